package server

import (
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// relay is a store's storage.Relay: how a storage that is a client of
// another server (pkg/zeo/clientstorage) passes on what changed there.
// It follows ZEO 6's StorageServerDB: invalidate broadcasts to every
// client (no committer to skip) and queues the transaction;
// invalidateCache closes the clients' connections.
type relay struct{ st *store }

// attachRelays gives each storage.Relayer its store's relay.
func (s *Server) attachRelays() {
	for _, n := range s.names {
		st := s.stores[n]
		if r, ok := st.st.(storage.Relayer); ok {
			r.SetRelay(relay{st})
		}
	}
}

func (r relay) Publish(fn func(send func(storage.Invalidation))) {
	r.st.vis.Lock()
	defer r.st.vis.Unlock()
	fn(r.send)
}

func (r relay) PublishInFinish(inv storage.Invalidation) { r.send(inv) }

func (r relay) send(inv storage.Invalidation) {
	r.st.publish(nil, inv.TID, inv.OIDs)
}

// DropClients is ZEO 6 StorageServer._invalidateCache: the queue is
// rebuilt (empty: a client behind the storage's last transaction then
// gets None from getInvalidations and drops its cache) and every
// connection of the storage is closed, so that clients reconnect and
// verify.
func (r relay) DropClients() {
	r.st.vis.Lock()
	r.st.invq = nil
	r.st.vis.Unlock()
	r.st.connsMu.Lock()
	conns := make([]*conn, 0, len(r.st.conns))
	for c := range r.st.conns {
		conns = append(conns, c)
	}
	r.st.connsMu.Unlock()
	for _, c := range conns {
		c.close()
	}
}
