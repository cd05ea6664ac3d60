"""How to reach the broker: `mqtt://user:pass@host:port/prefix?option=value` (`mqtts://` for TLS).

Parses and validates only; it never opens a connection. The password is kept out of every
description of the settings (logs, status, errors).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PREFIX = "carrier-sim"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_FORBIDDEN = set("+#\0")


class SettingsError(ValueError):
    """A broker URL or option that cannot work."""


@dataclass(frozen=True)
class MqttSettings:
    """Client settings. Options in the URL's query: ca, insecure, client_id, qos, buffer, keepalive."""

    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None  # TLS: the CA bundle that signed the broker's certificate (default: system CAs)
    insecure: bool = False  # TLS: do not check the broker's host name (tests with self-signed certificates)
    client_id: str | None = None  # default: carrier-sim-{node}-{random}
    qos: int = 1  # batches with QoS 1 are counted as published only once the broker acknowledged them
    buffer: int = 100_000  # records kept for the broker (while it is slow or away); beyond, the oldest are dropped
    batch_records: int = 1_000  # a batch never holds more records than this ...
    batch_interval: float = 0.1  # ... and never waits longer than this (seconds)
    metering_interval: float = 1.0  # metering snapshot and status every second
    keepalive: int = 15
    backoff_min: float = 0.2  # reconnect delays: doubling from backoff_min up to backoff_max (with jitter)
    backoff_max: float = 5.0

    @property
    def url(self) -> str:
        """The broker URL without the password (for logs and status)."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}/{self.prefix}"

    def with_options(self, **changes: Any) -> MqttSettings:
        return replace(self, **changes)

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"cannot read the CA file {self.ca_file}: {exc}") from exc
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiomqtt.Client (hostname, port, credentials, TLS, keepalive)."""
        return {
            "hostname": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "tls_context": self.ssl_context(),
            "keepalive": self.keepalive,
        }


def _flag(value: str, name: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"option {name}: expected true or false, got {value!r}")


def parse_url(url: str, *, ca_file: str | None = None) -> MqttSettings:
    """MqttSettings from `mqtt://[user[:pass]@]host[:port][/prefix][?options]`. Raises SettingsError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SettingsError(f"{url!r}: the broker URL must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise SettingsError(f"{url!r}: no broker host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise SettingsError(f"{url!r}: bad port ({exc})") from None
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    check_topic_part(prefix, "prefix", allow_slash=True)
    options: dict[str, Any] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        value = values[-1]
        try:
            if name == "ca":
                options["ca_file"] = value
            elif name == "insecure":
                options["insecure"] = _flag(value, name)
            elif name == "client_id":
                options["client_id"] = value
            elif name == "qos":
                options["qos"] = int(value)
                if options["qos"] not in (0, 1):
                    raise SettingsError("option qos: 0 or 1")
            elif name in ("buffer", "keepalive", "batch_records"):
                options[name] = int(value)
                if options[name] < 1:
                    raise SettingsError(f"option {name}: must be >= 1")
            elif name in ("batch_interval", "metering_interval", "backoff_min", "backoff_max"):
                options[name] = float(value)
                if options[name] <= 0:
                    raise SettingsError(f"option {name}: must be > 0")
            else:
                raise SettingsError(f"unknown option {name!r} (known: ca, insecure, client_id, qos, buffer, "
                                    "keepalive, batch_records, batch_interval, metering_interval, backoff_min, "
                                    "backoff_max)")
        except ValueError as exc:
            if isinstance(exc, SettingsError):
                raise SettingsError(f"{_redact(url)}: {exc}") from None
            raise SettingsError(f"{_redact(url)}: option {name}: not a number: {value!r}") from None
    if ca_file is not None:
        options["ca_file"] = ca_file
    if options.get("ca_file") and scheme != "mqtts":
        raise SettingsError(f"{_redact(url)}: a CA file needs mqtts://")
    return MqttSettings(
        host=parts.hostname,
        port=port,
        prefix=prefix,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=scheme == "mqtts",
        **options,
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def check_topic_part(value: str, what: str, allow_slash: bool = False) -> str:
    """A node id or prefix must be usable inside topic names: no wildcards, no empty levels."""
    if not value or _FORBIDDEN & set(value) or (not allow_slash and "/" in value):
        raise SettingsError(f"{what} {value!r} cannot be used in MQTT topics "
                            f"(no '+', '#'{'' if allow_slash else ', /'}, not empty)")
    if allow_slash and any(not level for level in value.split("/")):
        raise SettingsError(f"{what} {value!r} has an empty topic level")
    return value
