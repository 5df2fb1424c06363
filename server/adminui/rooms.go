package adminui

import (
	"slices"
	"time"

	"github.com/socketd/socketd/server/adapter"
)

// roomWatch is a namespace's adapter as the admin sees it: every room change
// of a local socket goes through AddAll, Del or DelAll (socket.Join, Leave,
// remote SocketsJoin through adapter.Local, the disconnection), so this is
// where room_joined and room_left come from (socket.io's adapter events
// "join-room" and "leave-room"). While no admin is watching it only forwards.
type roomWatch struct {
	adapter.Adapter
	ad  *Admin
	nsp string
}

// AddAll implements adapter.Adapter: room_joined for each room the socket
// was not in.
func (w *roomWatch) AddAll(id adapter.SocketID, rooms []adapter.Room) {
	if !w.ad.reporting() {
		w.Adapter.AddAll(id, rooms)
		return
	}
	before := w.Adapter.SocketRooms(id)
	w.Adapter.AddAll(id, rooms)
	ts := timestamp(time.Now())
	for i, r := range rooms {
		if !slices.Contains(before, r) && !slices.Contains(rooms[:i], r) {
			w.ad.queue("room_joined", w.nsp, string(r), string(id), ts)
		}
	}
}

// Del implements adapter.Adapter: room_left if the socket was in the room.
func (w *roomWatch) Del(id adapter.SocketID, room adapter.Room) {
	if !w.ad.reporting() {
		w.Adapter.Del(id, room)
		return
	}
	was := slices.Contains(w.Adapter.SocketRooms(id), room)
	w.Adapter.Del(id, room)
	if was {
		w.ad.queue("room_left", w.nsp, string(room), string(id), timestamp(time.Now()))
	}
}

// DelAll implements adapter.Adapter: room_left for every room of a socket
// that disconnected, its own id room included (the UI drops a room when its
// last socket leaves it).
func (w *roomWatch) DelAll(id adapter.SocketID) {
	if !w.ad.reporting() {
		w.Adapter.DelAll(id)
		return
	}
	rooms := w.Adapter.SocketRooms(id)
	w.Adapter.DelAll(id)
	ts := timestamp(time.Now())
	for _, r := range rooms {
		w.ad.queue("room_left", w.nsp, string(r), string(id), ts)
	}
}
