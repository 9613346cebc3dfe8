"""What ggcc writes and reads: ids, thunks, results, placeholders, a parsed compile."""
