"""
The parts of L{bittwist.storage.FileStorage}, one job each; the storage is a
facade over them and the only name the rest of bittwist uses.

L{shared} what they share (a file's span, OS errors as L{StorageError}),
L{filecache} the open files, L{hashes} the pieces hashed as written,
L{partfile} the bytes of skipped files, L{reader} reads (on the pool, or at
once from the page cache), L{writer} writes (adjacent blocks in one
C{pwritev}), L{removal} deleting a torrent's data.  Apart from the reads at
once from the page cache, every part runs on the pool thread running the
storage's jobs.
"""
