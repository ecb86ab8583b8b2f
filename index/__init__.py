"""The article index: loading articles, chunking, embedding and the FAISS store."""
