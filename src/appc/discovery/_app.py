"""The app being discovered: an image name and the labels that pick one build of it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from appc.errors import ValidationError
from appc.schema.labels import host_os_arch
from appc.schema.name import ac_identifier

# discovery.md: "version" defaults to "latest" when the user names no version.
DEFAULT_VERSION = "latest"


@dataclass(frozen=True)
class App:
    """An image name (an AC Identifier) with the labels to discover it by.

    Label names are AC Identifiers; ``name`` is refused as a label because the template
    placeholder ``{name}`` always means the image name. Labels keep the order they were given in.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ac_identifier(self.name, "name")
        for key in self.labels:
            ac_identifier(key, "labels")
            if key == "name":
                raise ValidationError('label name "name" is reserved for the image name', "labels")
        # A private copy behind a read-only view keeps the frozen promise for the labels too.
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    def __hash__(self) -> int:
        return hash((self.name, frozenset(self.labels.items())))

    def __str__(self) -> str:
        return "".join([self.name, *(f",{key}={value}" for key, value in self.labels.items())])

    @classmethod
    def parse(cls, text: str) -> App:
        """Read a command-line app string: ``NAME[:VERSION][,LABEL=VALUE]...``.

        This is the reference's syntax (``discovery.NewAppFromString``): a colon may appear
        once, right after the name, and stands for ``,version=``; every other part is
        ``label=value``, and a label may be given only once. Values are taken verbatim, so
        they cannot contain a comma.
        """
        first_comma = text.find(",")
        first_colon = text.find(":")
        if text.count(":") > 1:
            raise ValidationError(f"malformed app string {text!r}: a colon may appear at most once")
        if 0 <= first_comma < first_colon:
            raise ValidationError(
                f"malformed app string {text!r}: a colon may appear only right after the name"
            )
        name, *parts = text.replace(":", ",version=", 1).split(",")
        labels: dict[str, str] = {}
        for part in parts:
            key, sep, value = part.partition("=")
            if not sep:
                raise ValidationError(
                    f"malformed app string {text!r}: label {key!r} has no value "
                    "(expected label=value)"
                )
            if key in labels or key == "name":
                raise ValidationError(f"malformed app string {text!r}: label {key!r} given twice")
            labels[key] = value
        return cls(name, labels)

    def with_defaults(self) -> App:
        """This app with the labels discovery fills in when they are absent or empty.

        ``version`` becomes ``latest`` (discovery.md, as the reference's ``doDiscover``), ``os``
        and ``arch`` become this host's values as the spec spells them (as the reference
        ``actool discover`` does, though it uses Go's spelling, e.g. ``arm64`` for ``aarch64``).
        """
        host_os, host_arch = host_os_arch()
        defaults = {"version": DEFAULT_VERSION, "os": host_os, "arch": host_arch}
        labels = dict(self.labels)
        for key, value in defaults.items():
            # An empty value counts as absent, as in the reference (`Labels["os"] == ""`).
            if not labels.get(key):
                labels[key] = value
        return App(self.name, labels)

    def template_values(self) -> Iterator[tuple[str, str]]:
        """The placeholder values this app gives a discovery template, ``{ext}`` aside."""
        yield "name", self.name
        yield from self.labels.items()
