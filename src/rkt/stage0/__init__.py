"""stage0: turning `rkt prepare`/`rkt run` command lines into a pod directory and handing it to
stage1 (docs/stage1-interface.md).

:mod:`~rkt.stage0.apps` reads the images and their per-app flags; :mod:`~rkt.stage0.manifest`
builds the pod manifest; :mod:`~rkt.stage0.options` writes ``stage1/options.json``;
:mod:`~rkt.stage0.prepare` creates the pod with its app roots; :mod:`~rkt.stage0.run` moves it
to ``run/`` and starts the stage1 executor. Imports nothing, so each verb loads what it uses.
"""
