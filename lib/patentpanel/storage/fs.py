"""File-system operations through Spark's Hadoop ``FileSystem``: the one client that
reaches every URI Spark itself can write (local paths, file://, s3a://, abfss://, hdfs://)
with the cluster's credentials, so the store needs no fsspec or cloud SDK."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileStatus:
    path: str            # as Hadoop reports it (a qualified URI)
    size: int
    modification_time: int  # ms since epoch


class HadoopFS:
    def __init__(self, spark):
        self._spark = spark
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str):
        jpath = self._jvm.org.apache.hadoop.fs.Path(path)
        return jpath, jpath.getFileSystem(self._conf)

    def exists(self, path: str) -> bool:
        jpath, fs = self._fs(path)
        return bool(fs.exists(jpath))

    def list_dirs(self, path: str) -> list[str]:
        """Names of the sub-directories of ``path`` (empty when it does not exist)."""
        jpath, fs = self._fs(path)
        if not fs.exists(jpath):
            return []
        return sorted(st.getPath().getName() for st in fs.listStatus(jpath) if st.isDirectory())

    def list_files(self, path: str) -> list[FileStatus]:
        """Every file under ``path``, recursively."""
        jpath, fs = self._fs(path)
        out = []
        it = fs.listFiles(jpath, True)
        while it.hasNext():
            st = it.next()
            out.append(FileStatus(st.getPath().toString(), int(st.getLen()),
                                  int(st.getModificationTime())))
        return out

    def qualify(self, path: str) -> str:
        """``path`` as a fully qualified URI (``file:/tmp/x``, ``s3a://b/x``)."""
        jpath, fs = self._fs(path)
        return fs.makeQualified(jpath).toString()

    def delete(self, path: str) -> bool:
        jpath, fs = self._fs(path)
        return bool(fs.delete(jpath, True))
