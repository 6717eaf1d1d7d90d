"""The appc metadata service (ace.md, "App Container Metadata Service"), as rkt 1.30 ran it.

How the parts fit: ``rkt run --mds-register`` (stage0) registers each pod, once its networks
are up, over a unix socket that only root can reach (:mod:`~rkt.metadata.client`, the
protocol's client; :mod:`~rkt.metadata.private`, its server side), giving the pod manifest,
each app's image manifest, a fresh token and the pod's addresses. The service keeps them in
memory (:mod:`~rkt.metadata.registry`) and answers the pods' requests on a TCP port
(:mod:`~rkt.metadata.public`): a request is the pod's only when it carries the pod's token
(the path of ``AC_METADATA_URL``) *and* comes from one of the pod's addresses. The pod's end
unregisters it (stage0's teardown, ``rkt stop``, gc). :mod:`~rkt.metadata.server` puts both
behind HTTP on listening sockets of its own or handed over by systemd.

Nothing here is imported by the CLI's other verbs.
"""
