package pgstorage

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// iteratePage is how many transactions one iterator query reads.
const iteratePage = 100

// Iterate implements storage.Iterator. History-preserving databases
// give the transactions of the transaction table with their records;
// history-free ones only have current states, grouped into synthetic
// transactions by tid without metadata (as RelStorage's HF iterator).
func (s *Storage) Iterate(start, stop tid.TID, fn func(storage.TxnRecord) bool) error {
	if stop == 0 {
		stop = tid.TID(1<<63 - 1)
	}
	next := max(start, 1)
	for next <= stop {
		page, err := s.txnPage(next, stop)
		if err != nil {
			return convErr("iterator", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := s.fillRecords(page); err != nil {
			return convErr("iterator", err)
		}
		for _, r := range page {
			if !fn(r) {
				return nil
			}
		}
		next = page[len(page)-1].TID + 1
	}
	return nil
}

// txnPage reads up to iteratePage transaction headers from..stop.
func (s *Storage) txnPage(from, stop tid.TID) ([]storage.TxnRecord, error) {
	var out []storage.TxnRecord
	err := s.retry(func() error {
		out = nil
		var rows pgx.Rows
		var err error
		if s.hp {
			rows, err = s.pool.Query(s.ctx, `SELECT tid, packed, username, description, extension
				FROM "transaction" WHERE tid >= $1 AND tid <= $2 ORDER BY tid LIMIT $3`, int64(from), int64(stop), iteratePage)
		} else {
			rows, err = s.pool.Query(s.ctx, `SELECT DISTINCT tid, FALSE, ''::bytea, ''::bytea, NULL::bytea
				FROM object_state WHERE tid >= $1 AND tid <= $2 ORDER BY tid LIMIT $3`, int64(from), int64(stop), iteratePage)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t int64
			var packed bool
			var user, desc, ext []byte
			if err := rows.Scan(&t, &packed, &user, &desc, &ext); err != nil {
				return err
			}
			status := byte(' ')
			if packed {
				status = 'p'
			}
			out = append(out, storage.TxnRecord{TID: tid.TID(t), Status: status, User: user,
				Description: desc, Extension: storage.ExtensionItems(ext)})
		}
		return rows.Err()
	})
	return out, err
}

// fillRecords reads the object records of a page of transactions.
func (s *Storage) fillRecords(page []storage.TxnRecord) error {
	byTid := make(map[tid.TID]*storage.TxnRecord, len(page))
	for i := range page {
		page[i].Records = nil
		byTid[page[i].TID] = &page[i]
	}
	return s.retry(func() error {
		for i := range page {
			page[i].Records = nil
		}
		rows, err := s.pool.Query(s.ctx, `SELECT tid, zoid, state FROM object_state
			WHERE tid >= $1 AND tid <= $2 ORDER BY tid, zoid`, int64(page[0].TID), int64(page[len(page)-1].TID))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t, z int64
			var data []byte
			if err := rows.Scan(&t, &z, &data); err != nil {
				return err
			}
			if r := byTid[tid.TID(t)]; r != nil {
				r.Records = append(r.Records, storage.DataRecord{OID: storage.OID(z), TID: tid.TID(t), Data: data})
			}
		}
		return rows.Err()
	})
}

// undoID is the opaque id undoLog hands out: base64 of the tid, as
// FileStorage's.
func undoID(t tid.TID) []byte {
	b := t.Bytes()
	return []byte(base64.StdEncoding.EncodeToString(b[:]))
}

func parseUndoID(id []byte) (tid.TID, error) {
	b, err := base64.StdEncoding.DecodeString(string(id))
	if err != nil || len(b) != 8 {
		return 0, &storage.UndoError{Msg: fmt.Sprintf("bad undo id %q", id)}
	}
	return tid.FromBytes(b), nil
}

// UndoLog implements storage.Undoer (history-preserving only): the
// transactions that are neither packed nor empty, newest first.
func (s *Storage) UndoLog(first, last int, filter func(storage.UndoEntry) bool) ([]storage.UndoEntry, error) {
	if !s.hp {
		return nil, nil
	}
	var out []storage.UndoEntry
	skipped := 0
	before := int64(1<<63 - 1)
	for len(out) < last-first {
		var page []storage.UndoEntry
		err := s.retry(func() error {
			page = nil
			rows, err := s.pool.Query(s.ctx, `SELECT t.tid, t.username, t.description, t.extension,
				(SELECT COALESCE(SUM(o.state_size), 0) FROM object_state o WHERE o.tid = t.tid)
				FROM "transaction" t
				WHERE t.tid < $1 AND t.tid > 0 AND NOT t.packed AND NOT t.is_empty
				ORDER BY t.tid DESC LIMIT $2`, before, iteratePage)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var t, size int64
				var user, desc, ext []byte
				if err := rows.Scan(&t, &user, &desc, &ext, &size); err != nil {
					return err
				}
				page = append(page, storage.UndoEntry{ID: undoID(tid.TID(t)), TID: tid.TID(t), Time: tid.TID(t).TimeTime(),
					User: user, Description: desc, Size: int(size), Extension: storage.ExtensionItems(ext)})
			}
			return rows.Err()
		})
		if err != nil {
			return nil, convErr("undoLog", err)
		}
		for _, e := range page {
			if filter != nil && !filter(e) {
				continue
			}
			if skipped < first {
				skipped++
				continue
			}
			if len(out) < last-first {
				out = append(out, e)
			}
		}
		if len(page) < iteratePage {
			break
		}
		before = int64(page[len(page)-1].TID)
	}
	return out, nil
}

// Undo stages, for every object of the undone transaction, the state it
// had before (RelStorage 4.2 adapters/packundo.py verify_undoable and
// undo): allowed only where the object's current state is the one the
// undone transaction wrote (same md5), never for the root's creation.
// The new states go through the ordinary vote, which locks the objects
// and rechecks that they did not change meanwhile.
func (t *txn) Undo(id []byte) ([]storage.OID, error) {
	if !t.s.hp {
		return nil, storage.ErrUndoUnsupported
	}
	undone, err := parseUndoID(id)
	if err != nil {
		return nil, err
	}
	type undoRow struct {
		zoid, cur int64
		same      bool
		prevTid   int64
		state     []byte
		chunk     *uint32
	}
	var rows []undoRow
	err = t.s.retry(func() error {
		rows = nil
		var packed *bool
		if err := t.s.pool.QueryRow(t.s.ctx, `SELECT packed FROM "transaction" WHERE tid = $1`, int64(undone)).Scan(&packed); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return &storage.UndoError{Msg: "Undo is not possible: no such transaction"}
			}
			return err
		}
		if packed != nil && *packed {
			return &storage.UndoError{Msg: "Undo is not possible: the transaction was packed"}
		}
		r, err := t.s.pool.Query(t.s.ctx, `SELECT o.zoid, c.tid, co.md5 IS NOT DISTINCT FROM o.md5,
				o.prev_tid, p.state, b.chunk
			FROM object_state o
			JOIN current_object c ON c.zoid = o.zoid
			JOIN object_state co ON co.zoid = c.zoid AND co.tid = c.tid
			LEFT JOIN object_state p ON p.zoid = o.zoid AND p.tid = o.prev_tid
			LEFT JOIN blob_chunk b ON b.zoid = o.zoid AND b.tid = o.prev_tid AND b.chunk_num = 0
			WHERE o.tid = $1 ORDER BY o.zoid`, int64(undone))
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var u undoRow
			if err := r.Scan(&u.zoid, &u.cur, &u.same, &u.prevTid, &u.state, &u.chunk); err != nil {
				return err
			}
			rows = append(rows, u)
		}
		return r.Err()
	})
	var ue *storage.UndoError
	if errors.As(err, &ue) {
		return nil, ue
	}
	if err != nil {
		return nil, convErr("undo", err)
	}
	var errs []storage.UndoError
	for _, u := range rows {
		oid := storage.OID(u.zoid)
		switch {
		case !u.same:
			errs = append(errs, storage.UndoError{Msg: "Some data were modified by a later transaction", OID: &oid})
		case u.zoid == 0 && u.prevTid == 0:
			errs = append(errs, storage.UndoError{Msg: "Can't undo the creation of the root object", OID: &oid})
		}
	}
	if len(errs) > 0 {
		return nil, &storage.MultipleUndoError{Errs: errs}
	}
	oids := make([]storage.OID, 0, len(rows))
	for _, u := range rows {
		oid := storage.OID(u.zoid)
		t.put(oid, &record{serial: tid.TID(u.cur), data: u.state, deleted: u.state == nil, undo: true})
		if t.blobs != nil && t.blobs.shared && u.state != nil {
			if err := t.undoSharedBlob(oid, tid.TID(u.prevTid)); err != nil {
				return nil, err
			}
		}
		if u.chunk != nil {
			if t.undoChunks == nil {
				t.undoChunks = map[storage.OID]uint32{}
			}
			t.undoChunks[oid] = *u.chunk
		}
		oids = append(oids, oid)
	}
	return oids, nil
}
