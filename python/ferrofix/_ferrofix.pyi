"""Type stubs of the Rust extension module (checked by mypy.stubtest)."""

import os
from collections.abc import Sequence
from typing import Any, final

__all__ = [
    "IANA_REGISTRY_UPDATED",
    "_Meter",
    "_Reader",
    "_Scanner",
    "_Writer",
    "__version__",
    "allocator_options",
    "arm_test_panic",
    "describe_ies",
    "meter_tcp_series",
    "parse_iespec",
]

IANA_REGISTRY_UPDATED: str
__version__: str

@final
class _Reader:
    @property
    def label(self) -> str: ...
    def __new__(
        cls,
        source: Any,
        *,
        on_bad_records: str = "error",
        specs: list[str] = ...,
        spec_files: Sequence[str | os.PathLike[str]] = ...,
        max_templates: int = 65536,
        max_list_depth: int = 16,
        template_lifetime: int | None = ...,
        export_ports: list[int] | None = None,
        compat: bool = False,
    ) -> _Reader: ...
    def configure(
        self,
        shape: str = "dict",
        columns: list[str] | None = None,
        require_all: bool = False,
        kind: str = "all",
        meta: bool = False,
    ) -> list[str] | None: ...
    def next_batch(self) -> list[Any] | None: ...
    def take_warnings(self) -> list[str]: ...
    def close(self) -> None: ...
    def cache_sizes(self) -> tuple[int, int]: ...
    def templates(
        self,
    ) -> list[tuple[int, int, int | None, list[tuple[str, int, int, int, str]]]]: ...
    def health(self) -> dict[str, Any]: ...

def parse_iespec(
    spec: str,
) -> tuple[str | None, int | None, int | None, str | None, int | None]: ...
def meter_tcp_series(
    meter: _Meter, flow_ids: list[int], max_packets: int
) -> dict[int, tuple[dict[str, Any], dict[str, Any], int]]: ...
def allocator_options() -> tuple[int, int] | None:
    """Tests only: mimalloc's (purge delay, arena eager commit), None without it."""

def arm_test_panic(point: str | None = None) -> None:
    """Tests only: make the next pass through the named entry point panic."""

def describe_ies(
    names: list[str] | None = None,
    *,
    specs: list[str] = ...,
    spec_files: Sequence[str | os.PathLike[str]] = ...,
) -> list[tuple[str, int, int, str, str, str, int | None]]: ...

@final
class _Scanner:
    def __new__(
        cls,
        source: Any,
        *,
        columns: list[str] | None = None,
        require_all: bool = False,
        records: str = "data",
        batch_size: int = 65536,
        n_rows: int | None = None,
        addresses: str = "string",
        on_bad_records: str = "error",
        specs: list[str] = ...,
        spec_files: Sequence[str | os.PathLike[str]] = ...,
        max_templates: int = 65536,
        max_list_depth: int = 16,
        by_template: bool = False,
        template_lifetime: int | None = ...,
        export_ports: list[int] | None = None,
        filter: tuple[tuple[int, int] | None, list[int], list[int], list[tuple[str, int]]]
        | None = None,
    ) -> _Scanner: ...
    @property
    def schema(self) -> Any: ...
    def next_batch(self) -> Any | None: ...
    def last_template(self) -> tuple[int, int] | None: ...
    def template_columns(self) -> dict[tuple[int, int], list[int]]: ...
    def last_buffer_addresses(self) -> list[int]: ...
    def health(self) -> dict[str, Any]: ...
    def take_warnings(self) -> list[str]: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    @staticmethod
    def listen(
        udp: list[str],
        tcp: list[str],
        columns: list[str],
        *,
        batch_size: int = 65536,
        interval: float = 1.0,
        addresses: str = "string",
        on_bad_records: str = "skip",
        specs: list[str] = ...,
        spec_files: Sequence[str | os.PathLike[str]] = ...,
        queue: int = 8192,
        recv_buffer: int = 33554432,
        template_lifetime: int | None = ...,
        template_clock: str = "export",
    ) -> _Scanner: ...
    def local_addresses(self) -> list[tuple[str, str, int]]: ...
    def stop(self) -> None: ...
    def finished(self) -> bool: ...
    def live_counters(self) -> tuple[int, int, int, int] | None: ...

@final
class _Meter:
    def __new__(
        cls,
        sources: list[Any],
        *,
        idle_timeout: float = 30.0,
        active_timeout: float = 300.0,
        biflow: bool = True,
        max_flows: int = 1048576,
        decapsulate: bool = False,
        tcp_metrics: bool = True,
        workers: int = 1,
        columns: list[str] | None = None,
        batch_size: int = 65536,
        addresses: str = "string",
        on_bad_records: str = "error",
        specs: list[str] = ...,
        spec_files: list[str | os.PathLike[str]] = ...,
        enterprise: int = 32473,
        filter: tuple[tuple[int, int] | None, list[int], list[int], list[tuple[str, int]]]
        | None = None,
    ) -> _Meter: ...
    @property
    def schema(self) -> Any: ...
    def next_batch(self) -> Any | None: ...
    def position(self) -> int: ...
    def total_bytes(self) -> int | None: ...
    def take_warnings(self) -> list[str]: ...
    def stats(self) -> dict[str, Any]: ...
    def write_ipfix(
        self,
        dest: Any = None,
        *,
        export: str | None = None,
        compression: str | None = None,
        mtu: int | None = None,
        progress: Any = None,
        template_refresh: int | None = None,
        template_refresh_timeout: int | None = None,
        stats: bool = True,
        observation_domain_id: int = 0,
    ) -> bytes | None: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

@final
class _Writer:
    def __new__(
        cls,
        dest: Any = None,
        *,
        mtu: int = 65535,
        export_time: int | None = None,
        template_refresh: int | None = None,
        compression: str | None = None,
        specs: list[str] = ...,
        spec_files: Sequence[str | os.PathLike[str]] = ...,
    ) -> _Writer: ...
    def add_template(
        self,
        fields: list[str],
        template_id: int,
        observation_domain_id: int = 0,
        scope: int = 0,
    ) -> list[str]: ...
    def write(self, template_id: int, record: Any, observation_domain_id: int = 0) -> None: ...
    def write_many(self, template_id: int, records: Any, observation_domain_id: int = 0) -> int: ...
    def write_arrow(
        self,
        data: Any,
        columns: dict[str, str] | None = None,
        observation_domain_id: int = 0,
        first_template_id: int = 256,
        nulls: str = "template",
    ) -> tuple[int, int]: ...
    def withdraw(self, template_id: int, observation_domain_id: int = 0) -> None: ...
    def withdraw_all(self, observation_domain_id: int = 0) -> None: ...
    def flush(self) -> None: ...
    def stats(self) -> tuple[int, int, int, int, int]: ...
    def close(self) -> bytes | None: ...
