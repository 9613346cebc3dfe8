"""Running a thunk: the one executor, its sandbox, and forcing a graph of thunks."""
