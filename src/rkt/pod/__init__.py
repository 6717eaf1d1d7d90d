"""Pods on disk: directories, states, locks, listing and garbage collection.

How the parts fit: :mod:`~rkt.pod.state` names the states and the transitions between them
(one enum, one table); :mod:`~rkt.pod.layout` knows the paths of pod directories and of the
files inside them; :mod:`~rkt.pod.pod` opens a pod, derives its state from its directory and
its lock, and moves it by atomic rename; :mod:`~rkt.pod.info` reads what stage0 and stage1
wrote into it; :mod:`~rkt.pod.api` renders it as rkt's v1 JSON; :mod:`~rkt.pod.gc` marks and
sweeps. Nothing here starts processes or mounts anything: the executor (stage1) holds a
running pod's lock, and gc calls its teardown through a hook.

This ``__init__`` imports nothing so that ``rkt list`` loads only what it uses.
"""
