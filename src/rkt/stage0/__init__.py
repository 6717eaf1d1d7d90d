"""stage0, the one orchestrator: from what a verb asks to a pod directory handed to stage1
through its interface (rkt.stage1.interface; docs/architecture.md walks ``rkt run`` through it).

:mod:`~rkt.stage0.request` prepares what ``rkt prepare``/``rkt run`` ask for (resolving the
images); :mod:`~rkt.stage0.apps` reads the images' per-app flags; :mod:`~rkt.stage0.manifest`
builds the pod manifest; :mod:`~rkt.stage0.options` the options stage1 gets;
:mod:`~rkt.stage0.prepare` creates the pod with its app roots; :mod:`~rkt.stage0.run` moves it
to ``run/`` and starts stage1, with its networks around it; :mod:`~rkt.stage0.stop`,
:mod:`~rkt.stage0.enter` and :mod:`~rkt.stage0.gc` reach a running or finished pod's stage1;
:mod:`~rkt.stage0.teardown` and :mod:`~rkt.stage0.netdown` are the pod's end. Imports
nothing, so each verb loads what it uses.
"""
