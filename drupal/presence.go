package drupal

import (
	"encoding/json"
	"log/slog"
	"strconv"
)

// presence is an online user (spec §4.4): a uid != 0 with an authenticated
// socket, or within the grace period after its last one left. There is one per
// online user; its fields fill a 64-byte size class.
type presence struct {
	// list holds the users told when this one comes online or goes offline
	// (the auth reply's presenceUids, or user/presence-list). This is the
	// direction drupal-node.js's code takes (spec §9.16). It is never
	// modified in place: it is the auth reply's PresenceUIDs, which the
	// extensions saw, until user/presence-list replaces it.
	list []int64
	// socks are the user's authenticated sockets.
	socks connList
	// timer is the pending offline check; a check whose timer is no longer
	// this one is stale.
	timer *graceTimer
}

func (p *presence) stop() {
	if p.timer != nil {
		p.timer.t.Stop()
		p.timer = nil
	}
}

// presenceNotification is the push about a user's presence.
func presenceNotification(uid int64, event string) json.RawMessage {
	return json.RawMessage(`{"presenceNotification":{"uid":` + strconv.FormatInt(uid, 10) + `,"event":"` + event + `"}}`)
}

// socketsOfUIDsLocked lists the authenticated sockets of the given users.
func (b *Bridge) socketsOfUIDsLocked(uids []int64) []string {
	var ids []string
	for _, uid := range uids {
		if uid == 0 {
			continue
		}
		for _, c := range b.socketsOfUIDLocked(uid) {
			ids = append(ids, c.id())
		}
	}
	return ids
}

// scheduleOfflineLocked (re)starts the grace timer of a user whose socket left.
func (b *Bridge) scheduleOfflineLocked(uid int64) {
	p := b.online[uid]
	if p == nil || b.closed {
		return
	}
	p.stop()
	gt := &graceTimer{}
	p.timer = gt
	gt.t = b.clock.AfterFunc(offlineGrace, func() { b.offlineCheck(uid, p, gt) })
}

// offlineCheck runs when a user's grace period ends: with no socket left, the
// user goes offline, its presence list is told and so is Drupal (userOffline).
func (b *Bridge) offlineCheck(uid int64, p *presence, gt *graceTimer) {
	b.mu.Lock()
	if b.closed || b.online[uid] != p || p.timer != gt {
		b.mu.Unlock()
		return
	}
	p.timer = nil
	if len(p.socks) > 0 {
		b.mu.Unlock()
		return
	}
	delete(b.online, uid)
	targets := b.socketsOfUIDsLocked(p.list)
	b.mu.Unlock()
	b.logDebug("drupal: user offline", slog.Int64("uid", uid))
	b.emitToSockets(targets, presenceNotification(uid, "offline"))
	b.notifyBackend(json.RawMessage(`{"uid":` + strconv.FormatInt(uid, 10) + `,"messageType":"userOffline"}`))
}

// SetPresenceList replaces the users told about uid's presence
// (user/presence-list). It reports false when uid is not online: the list
// then comes from the next auth reply anyway.
func (b *Bridge) SetPresenceList(uid int64, uids []int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.online[uid]
	if p == nil {
		return false
	}
	p.list = append([]int64(nil), uids...)
	return true
}

// OnlineUsers returns the number of online users.
func (b *Bridge) OnlineUsers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.online)
}
