"""The Fetcher: from an image argument to an image in the store, verified and rendered.

It resolves the argument (:mod:`~rkt.fetch.argument`), looks in the store as the pull policy
allows, downloads what is missing (:mod:`~rkt.fetch.download` through a
:class:`~rkt.fetch.http.Transport`), checks the signature with :func:`rkt.trust.verify` and the
manifest's name against the name asked for, imports the ACI, fetches its dependencies the same
way and renders the tree once (docs/image-half.md, "rkt.fetch").
"""

from __future__ import annotations

import enum
import sys
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

import msgspec
from msgspec.structs import replace

from rkt.errors import FetchError, ImageNotFound, RktError
from rkt.fetch.argument import Kind, app_string, classify
from rkt.insecure import Insecure

if TYPE_CHECKING:
    from appc.discovery import ACIEndpoint, App
    from appc.schema.labels import Label
    from rkt.config import Config
    from rkt.fetch.download import Downloaded
    from rkt.fetch.http import Transport
    from rkt.store import Remote, Store
    from rkt.store.batch import ImageBatch
    from rkt.trust import Keystore


class PullPolicy(enum.Enum):
    """When to go to the network (image-fetching-behavior.md)."""

    NEVER = "never"  # the store only
    NEW = "new"  # the store, else fetch
    UPDATE = "update"  # always ask the remote; HTTP caching avoids a transfer

    @classmethod
    def parse(cls, text: str) -> PullPolicy:
        try:
            return cls(text)
        except ValueError:
            raise FetchError(
                f'unknown pull policy "{text}"', hint="expected never, new or update"
            ) from None


class _Source(msgspec.Struct, frozen=True):
    """Where an image comes from: its URL, where its signature is, and what it must be."""

    url: str
    sig_url: str
    #: the name (and labels) asked for, for discovered images; None for URLs and files
    app: App | None = None


class Fetcher:
    """Fetches images into ``store``, verifying them against ``keystore`` (by default the
    trusted keys of ``config.dirs``, read only when an image is verified).

    ``transport`` defaults to an :class:`~rkt.fetch.http.HttpTransport` honouring
    ``config.insecure`` and the ``auth.d`` credentials (created on the first download);
    messages go to ``stderr`` (a progress bar too, if it is a terminal). ``discovery_port``
    makes discovery ask that port instead of 443/80, for servers in tests.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        keystore: Keystore | None = None,
        *,
        transport: Transport | None = None,
        stderr: TextIO | None = None,
        discovery_port: int | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._given_keystore = keystore
        self._transport = transport
        self._stderr = stderr if stderr is not None else sys.stderr
        self._port = discovery_port
        self._warned: set[str] = set()
        #: the images of the fetch in progress, committed together at its end
        self._batch: ImageBatch | None = None

    @property
    def _keystore(self) -> Keystore:
        # Built on first use: an image given by ID (what schedulers run) is verified when it
        # was fetched, and ``rkt run`` of one should not load rkt.trust.
        if self._given_keystore is None:
            from rkt.trust import Keystore

            self._given_keystore = Keystore(self._config.dirs)
        return self._given_keystore

    # --- the public operation ------------------------------------------------------------

    def fetch(
        self,
        arg: str,
        *,
        pull_policy: str = "update",
        signature: Path | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Fetch one image and its dependencies, render it, and return its full image ID.

        Nothing enters the store before the image renders with its dependencies: a fetch that
        fails at any point leaves the store as it was (rkt.store.batch)."""
        from rkt.store.batch import ImageBatch

        policy = PullPolicy.parse(pull_policy)
        with ImageBatch(self._store) as batch:
            self._batch = batch
            try:
                image_id = self._fetch_one(arg, policy, signature, labels or {})
                self._fetch_dependencies(image_id, policy)
                batch.commit(image_id)
            finally:
                self._batch = None
        return image_id

    @property
    def _images(self) -> ImageBatch:
        assert self._batch is not None, "only within fetch()"
        return self._batch

    # --- dispatch ------------------------------------------------------------------------

    def _fetch_one(
        self, arg: str, policy: PullPolicy, signature: Path | None, labels: Mapping[str, str]
    ) -> str:
        argument = classify(arg)
        if argument.kind is Kind.HASH:
            return self._images.get(argument.value)
        if argument.kind is Kind.PATH:
            return self._from_file(argument.path, signature)
        if argument.kind is Kind.URL:
            from rkt.fetch.signature import signature_url

            source = _Source(argument.value, signature_url(argument.value))
            return self._from_url(source, policy, signature)
        if argument.kind is Kind.OCI:
            return self._from_oci(argument.value, policy)
        return self._from_name(self._app(argument.value, labels), policy, signature)

    def _from_oci(self, text: str, policy: PullPolicy) -> str:
        """Docker and OCI images, converted to ACIs as docker2aci did (rkt.fetch.oci)."""
        from rkt.fetch.oci.pull import OciFetcher

        return OciFetcher(
            self._config,
            self._store,
            transport=self._http,
            skip_verification=self._skip_verification,
            log=self._log,
            debug=self._log_debug,
            stderr=self._stderr,
        ).fetch(text, policy.value)

    def _app(self, text: str, labels: Mapping[str, str]) -> App:
        from appc.discovery import App
        from appc.errors import AppcError
        from appc.schema.labels import host_os_arch

        try:
            app = App.parse(text)
            merged = {**labels, **app.labels}
            # rkt fills in the host's os and arch; version stays unset (any version will do
            # in the store, and discovery asks for "latest").
            host_os, host_arch = host_os_arch()
            merged.setdefault("os", host_os)
            merged.setdefault("arch", host_arch)
            return App(app.name, merged)
        except AppcError as error:
            raise FetchError(f'invalid image name "{text}": {error}') from error

    # --- files ----------------------------------------------------------------------------

    def _from_file(self, path: Path, signature: Path | None) -> str:
        try:
            file = open(path, "rb")  # noqa: SIM115 (closed below, after the import)
        except OSError as error:
            raise FetchError(f"{path}: cannot open image: {error.strerror}") from error
        from rkt.fetch.signature import read_signature, signature_path

        with file:
            verify = not self._skip_verification()
            sig = read_signature(signature or signature_path(path)) if verify else None
            self._verify(file, sig, None, str(path), verify)
            return self._import(file, str(path))

    # --- names ----------------------------------------------------------------------------

    def _from_name(self, app: App, policy: PullPolicy, signature: Path | None) -> str:
        shown = app_string(app.name, app.labels)
        if policy is not PullPolicy.UPDATE:
            found = self._images.find(app.name, app.labels)
            if found is not None:
                return found
            if policy is PullPolicy.NEVER:
                raise ImageNotFound(
                    f'image "{shown}" is not in the store',
                    hint="fetch it first, or use --pull-policy=new",
                )
        endpoint = self._discover(app)
        return self._from_url(_Source(endpoint.aci, endpoint.asc, app), policy, signature)

    def _discover(self, app: App) -> ACIEndpoint:
        from appc.discovery import discover_aci_endpoints
        from appc.errors import AppcError
        from rkt.fetch.http import discovery_flags, discovery_transport

        self._log_debug(f"searching for app image {app.name}")
        try:
            endpoints, attempts = discover_aci_endpoints(
                app,
                transport=discovery_transport(self._http()),
                insecure=discovery_flags(self._config.insecure),
                port=self._port,
            )
        except AppcError as error:
            raise FetchError(f'discovery failed for "{app.name}": {error}') from error
        for attempt in attempts:
            self._log_debug(
                f"meta tag 'ac-discovery' not found on {attempt.prefix}: {attempt.error}"
            )
        # rkt uses the first endpoint; appc discovery already kept only the longest prefix.
        return endpoints[0]

    # --- URLs -----------------------------------------------------------------------------

    def _from_url(self, source: _Source, policy: PullPolicy, signature: Path | None) -> str:
        from rkt.fetch.cache import is_fresh

        remote = self._store.live_remote(source.url)
        if remote is not None and policy is not PullPolicy.UPDATE:
            self._log_debug(f"using image from local store for url {source.url}")
            return remote.image_id
        if policy is PullPolicy.NEVER:
            raise ImageNotFound(
                f"image {source.url} is not in the store",
                hint="fetch it first, or use --pull-policy=new",
            )
        if remote is not None and is_fresh(remote.download_time, remote.max_age):
            self._log_debug(f"image for {source.url} isn't expired, not fetching")
            return remote.image_id
        return self._download(source, remote, signature)

    def _download(self, source: _Source, remote: Remote | None, signature: Path | None) -> str:
        from rkt.fetch.cache import now
        from rkt.fetch.download import PartialDownload, download
        from rkt.fetch.signature import read_signature
        from rkt.store import Remote

        verify = not self._skip_verification()
        http = self._http_for(source)
        sig: bytes | None = None
        # rkt gets the signature first, to fail before a long download. When the image may
        # be unchanged (a cached ETag), ask for the image first: a 304 needs no signature.
        sig_later = remote is not None and bool(remote.etag)
        if verify and source.app is not None:
            self._maybe_trust_keys(source.app.name)
        if verify:
            if signature is not None:
                sig = read_signature(signature)
            elif not sig_later:
                # None when the server asks (202) to come back after the image.
                sig = self._fetch_signature(source.sig_url, first=True, transport=http)
        self._log_debug(f"fetching image from {source.url}")
        with PartialDownload(self._store_tmp(), source.url) as temp:
            resume = temp.resume_point()
            if resume[0]:
                self._log(f"resuming the download of {source.url} at byte {resume[0]}")
            result: Downloaded = download(
                http,
                source.url,
                temp.file,
                etag=remote.etag if remote is not None else "",
                stderr=self._stderr,
                resume=resume,
                on_validator=temp.save_validator,
            )
            temp.complete = True
            if result.not_modified and remote is not None:
                self._log_debug(f"{source.url} not modified, using the stored image")
                # A 304 refreshes the entry: its max-age counts from now (RFC 9111 4.3.4;
                # rkt kept the old entry, so every later fetch asked again).
                self._store.put_remote(
                    replace(remote, etag=result.etag, max_age=result.max_age, download_time=now())
                )
                return remote.image_id
            if verify and sig is None:
                sig = self._fetch_signature(source.sig_url, first=False, transport=http)
            temp.file.seek(0)
            self._verify(temp.file, sig, source.app, source.url, verify)
            image_id = self._import(temp.file, source.url)
        sig_location = str(signature) if signature is not None else source.sig_url
        self._images.remember(
            Remote(source.url, sig_location, result.etag, result.max_age, now(), image_id)
        )
        return image_id

    def _maybe_trust_keys(self, name: str) -> None:
        """With ``--trust-keys-from-https``, trust the keys discovery announces for a name
        no key is trusted for yet (rkt's ``maybeFetchPubKeys``)."""
        from rkt.fetch.keys import trust_discovered_keys

        if not self._config.trust_keys_from_https or self._keystore.keys_for(name):
            return
        trust_discovered_keys(
            name,
            transport=self._http(),
            keystore=self._keystore,
            insecure=self._config.insecure,
            verifies_tls=Insecure.TLS not in self._config.insecure,
            port=self._port,
            log=self._log,
        )

    # --- checks and import ------------------------------------------------------------------

    def _skip_verification(self) -> bool:
        if Insecure.IMAGE in self._config.insecure:
            self._warn("image signature verification has been disabled")
            return True
        return False

    def _fetch_signature(
        self, url: str, *, first: bool, transport: Transport | None = None
    ) -> bytes | None:
        from rkt.fetch.signature import fetch_signature

        self._log_debug(f"downloading signature from {url}")
        return fetch_signature(transport or self._http(), url, first=first, log=self._log)

    def _verify(
        self, file: BinaryIO, sig: bytes | None, app: App | None, where: str, required: bool
    ) -> None:
        """Identity, then signature, both before anything is imported."""
        from rkt.fetch.verification import verify_image

        key = verify_image(
            file, sig, app=app, where=where, keystore=self._keystore, required=required
        )
        if key is not None:
            self._log(f"signature verified: key {key.fingerprint} for {where}")

    def _import(self, file: BinaryIO, where: str) -> str:
        """Stage the image in this fetch's batch: committed when the whole fetch succeeded."""
        from appc.errors import AppcError

        file.seek(0)
        try:
            return self._images.stage(file)
        except AppcError as error:
            raise FetchError(f"{where}: not a valid image: {error}") from error

    # --- dependencies -----------------------------------------------------------------------

    def _fetch_dependencies(self, image_id: str, policy: PullPolicy) -> None:
        """Fetch every dependency, breadth first, before the image is rendered (the store
        renders from what it has). Each is fetched by name and labels; an ``imageID`` given
        in the manifest must match what was fetched, and one already stored is used as is."""
        seen: set[str] = {image_id}
        queue = deque([image_id])
        while queue:
            parent = queue.popleft()
            manifest = self._images.manifest(parent)
            for dep in manifest.dependencies:
                found = self._dependency(dep.image_name, dep.image_id, dep.labels, policy, parent)
                if found not in seen:
                    seen.add(found)
                    queue.append(found)

    def _dependency(
        self,
        name: str,
        wanted_id: str | None,
        labels: tuple[Label, ...],
        policy: PullPolicy,
        parent: str,
    ) -> str:
        if wanted_id is not None:
            try:
                return self._images.get(wanted_id)
            except ImageNotFound:
                pass
        wanted = {label.name: label.value for label in labels}
        try:
            found = self._from_name(self._app(name, wanted), policy, None)
        except RktError as error:
            # Re-raised as the same kind of error when its constructor allows, so callers can
            # still tell a missing image from a bad signature.
            kind = type(error) if type(error).__init__ is RktError.__init__ else FetchError
            raise kind(
                f'dependency "{app_string(name, wanted)}" of image {parent}: {error.message}',
                hint=error.hint,
            ) from error
        if wanted_id is not None and found != wanted_id:
            raise FetchError(
                f'dependency "{name}" of image {parent}: fetched image {found} '
                f"but the manifest requires {wanted_id}"
            )
        return found

    # --- plumbing ---------------------------------------------------------------------------

    def _http(self) -> Transport:
        if self._transport is None:
            from rkt.config import load_auth
            from rkt.fetch.http import HttpTransport

            self._transport = HttpTransport(
                insecure=self._config.insecure, auth=load_auth(self._config.dirs)
            )
        if Insecure.TLS in self._config.insecure:
            self._warn("TLS verification has been disabled")
        return self._transport

    def _http_for(self, source: _Source) -> Transport:
        """The transport for an image and its signature. An ``http://`` URL the user gave is
        fetched over plain HTTP as rkt fetched it (its signature still has to verify unless
        ``--insecure-options=image``); ``--insecure-options=http`` governs what discovery
        finds and redirects from https."""
        transport = self._http()
        explicit_http = source.app is None and source.url.lower().startswith("http://")
        allowing = getattr(transport, "allowing_http", None)
        if explicit_http and Insecure.HTTP not in self._config.insecure and allowing is not None:
            http: Transport = allowing()
            return http
        return transport

    def _store_tmp(self) -> Path:
        from rkt.datadir import DataDir

        return DataDir(self._config.data_dir).tmp

    def _log(self, message: str) -> None:
        self._stderr.write(f"image: {message}\n")

    def _log_debug(self, message: str) -> None:
        if self._config.debug:
            self._log(message)

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._log(f"warning: {message}")
