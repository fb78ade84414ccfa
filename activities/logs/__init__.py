"""Log sinks: the archive (durable, one JSONL file per pod), the live hub, and reading
them back (replay, then follow). The tail activity and agents write through LogSinks."""

from activities.logs.archive import Archive
from activities.logs.follow import LogBatch, follow_logs
from activities.logs.hub import LiveHub
from activities.logs.pods import LogSelector, PodMeta, pod_meta
from activities.logs.sinks import LogSinks, PodLog
from activities.logs.store import ArchiveBusy, LogArchive

__all__ = [
    "Archive",
    "ArchiveBusy",
    "LiveHub",
    "LogArchive",
    "LogBatch",
    "LogSelector",
    "LogSinks",
    "PodLog",
    "PodMeta",
    "follow_logs",
    "pod_meta",
]
