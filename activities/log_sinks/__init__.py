"""Log sinks: the archive (durable, one JSONL file per pod), the live hub, and reading
them back (replay, then follow). The tail activity and agents write through LogSinks."""

from activities.log_sinks.archive import Archive
from activities.log_sinks.follow import LogBatch, follow_logs
from activities.log_sinks.hub import LiveHub
from activities.log_sinks.pod_files import ArchiveBusy
from activities.log_sinks.pods import LogSelector, PodMeta, pod_meta
from activities.log_sinks.sinks import LogSinks, PodLog

__all__ = [
    "Archive",
    "ArchiveBusy",
    "LiveHub",
    "LogBatch",
    "LogSelector",
    "LogSinks",
    "PodLog",
    "PodMeta",
    "follow_logs",
    "pod_meta",
]
