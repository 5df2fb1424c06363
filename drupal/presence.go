package drupal

import (
	"context"
	"encoding/json"
	"strconv"
)

// Presence (spec §4.4): a user (uid != 0) is online from its first
// authenticated socket until the grace period after its last one; the store
// decides both transitions (once for the cluster with a shared store). Each
// user has a presence list, the users told when it comes online or goes
// offline: the auth reply's presenceUids, or user/presence-list.

// presenceNotification is the push about a user's presence.
func presenceNotification(uid int64, event string) json.RawMessage {
	return json.RawMessage(`{"presenceNotification":{"uid":` + strconv.FormatInt(uid, 10) + `,"event":"` + event + `"}}`)
}

// notifyPresence tells the sockets of the users in list, wherever they are,
// that uid came online or went offline (event).
func (b *Bridge) notifyPresence(ctx context.Context, uid int64, list []int64, event string) {
	rooms := make([]string, 0, len(list))
	for _, u := range list {
		if u != 0 {
			rooms = append(rooms, UserRoom(u))
		}
	}
	if len(rooms) == 0 {
		return
	}
	b.emit(ctx, b.nsp.To(rooms...), presenceNotification(uid, event))
}

// SetPresenceList replaces the users told about uid's presence
// (user/presence-list). It reports false when uid is not online: the list
// then comes from the next auth reply anyway.
func (b *Bridge) SetPresenceList(ctx context.Context, uid int64, uids []int64) (bool, error) {
	return b.store.SetPresenceList(ctx, uid, uids)
}
