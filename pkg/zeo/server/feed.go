package server

import "github.com/zdkit/zdkit/pkg/zeo/storage"

// Commits made by other processes on a shared storage (storage.CommitFeed:
// several runzeo front ends on one PostgreSQL database). The follower
// goroutine publishes them, under the exclusive visibility lock so that
// they are ordered with our own tpc_finish replies and with load
// replies, exactly as our clients' commits are.

// startFeed starts following feed's commits.
func (st *store) startFeed(feed storage.CommitFeed) {
	st.feed = feed
	st.feedWake = make(chan struct{}, 1)
	st.feedDone = make(chan struct{})
	feed.WatchCommits(func() {
		select {
		case st.feedWake <- struct{}{}:
		default:
		}
	})
	st.feedWG.Add(1)
	go st.follow()
}

func (st *store) follow() {
	defer st.feedWG.Done()
	failing := false
	for {
		select {
		case <-st.feedDone:
			return
		case <-st.feedWake:
		}
		st.vis.Lock()
		invs, err := st.feed.PollCommits()
		st.publishForeign(invs)
		st.vis.Unlock()
		if err != nil && !failing {
			st.srv.log.error("ZEO.StorageServer", "(%s) polling for commits made elsewhere failed: %v", st.name, err)
		} else if err == nil && failing {
			st.srv.log.info("ZEO.StorageServer", "(%s) polling for commits made elsewhere works again", st.name)
		}
		failing = err != nil
	}
}

// publishForeign queues and sends commits made elsewhere, oldest first,
// to every client. The caller holds st.vis exclusively.
func (st *store) publishForeign(invs []storage.Invalidation) {
	for _, inv := range invs {
		st.publish(nil, inv.TID, inv.OIDs)
	}
}

// stopFeed stops the follower (before the storage closes).
func (st *store) stopFeed() {
	if st.feedDone != nil {
		close(st.feedDone)
		st.feedWG.Wait()
		st.feedDone = nil
	}
}
