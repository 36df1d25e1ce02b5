package pgstorage

// storeSessionSettings are set on every store session. The statements a
// store session runs (the vote's and finish's, RelStorage's functions
// among them) join the session's small temporary tables with the large
// shared ones (temp_store with current_object, object_state,
// blob_chunk), where an index lookup per temporary row is always the
// right plan. PostgreSQL never analyzes temporary tables, so it guesses
// their rows from their size in pages; at a few thousand guessed rows
// against a large current_object it chooses a hash join that reads all
// of current_object: measured on a 450,000-object database, 270 ms for
// a vote of one object whose session had left 300,000 dead rows in
// temp_store, and 25-35 ms with about 2,000 guessed rows, against 0.03 ms
// for the index plan. PL/pgSQL also keeps such a plan for the session.
// Without hash and merge joins the planner takes the index lookups.
var storeSessionSettings = []string{
	"SET enable_hashjoin = off",
	"SET enable_mergejoin = off",
}
