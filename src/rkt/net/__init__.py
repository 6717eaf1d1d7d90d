"""Pod networking through CNI (issue #6): network configs, a CNI client, network namespaces.

Wired into ``rkt run`` by :mod:`rkt.net.pod`. How stage0/stage1 use it, after rkt 1.30:

1. stage0 parses ``--net`` (:func:`config.parse_net_list`), loads the networks
   (:func:`config.load_networks` over the config dirs, built-ins ``default`` and
   ``default-restricted`` included) and picks the pod's (:func:`config.select_networks`);
   ``host`` means no namespace of its own, ``none`` a namespace with only ``lo``.
2. Before stage1 starts any app, stage0 creates the pod's namespace at ``<pod>/netns``
   (:func:`netns.create`), copies each network's ``raw`` bytes into ``<pod>/net/`` and ADDs
   them in order (:meth:`cni.Client.add`, interfaces ``eth0``, ``eth1``, ...; the pod UUID as
   container id; the ``--net=name:K=V;K2=V2`` arguments as ``CNI_ARGS``; the client's cache
   directory under the pod directory, so the pod's state goes with it). If one ADD fails, the
   ones before it are DELeted in reverse and the namespace removed.
3. stage0 writes ``<pod>/net-info.json`` (:func:`netinfo.save`, rkt's netName, netConf,
   pluginPath, ifName, ip, args, mask), and the pod's resolv.conf from the results' ``dns``.
4. stage1 ``setns`` into ``<pod>/netns`` before it starts the apps (and brings ``lo`` up);
   ``rkt enter`` joins the same file.
5. When the pod exits, whoever holds its lock calls :func:`pod.teardown` (DEL of every cached
   attachment, newest first, also after a crash and with the namespace gone, then
   :func:`netns.remove`): ``rkt run`` as stage1 exits, else ``rkt stop``, else gc/rm
   (:mod:`rkt.stage0.netdown`). A failed DEL keeps its cache entry, so the next one retries it.

IPv6: ``net.d/default.ipv6`` (one IPv6 subnet) makes the built-in ``default`` dual-stack
(:func:`config.read_default_ipv6`).
"""
