"""What ggcc writes and reads: ids, thunks, results, placeholders, the daemon's wire format."""
