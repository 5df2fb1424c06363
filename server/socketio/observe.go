package socketio

import (
	psio "github.com/socketd/socketd/protocol/socketio"
)

// EventObserver sees the events the server's sockets receive and are sent,
// for tools such as the admin UI (server/adminui). Its methods run on the
// path of every event, on the goroutine that reads or writes it: they must
// return at once and must not keep data or sockets past the call.
type EventObserver interface {
	// EventReceived is called for an event a local socket received, before
	// its handler runs. data is the packet's JSON array [name, args...]
	// (binary arguments as placeholders).
	EventReceived(s *Socket, data []byte)
	// EventSent is called for an event written to local sockets, once per
	// write: an emit to one socket, or a broadcast's delivery on this node
	// with every socket it went to. data is as for EventReceived.
	EventSent(n *Namespace, sockets []*Socket, data []byte)
}

// observerBox holds an EventObserver for an atomic.Pointer.
type observerBox struct{ o EventObserver }

// SetEventObserver sets the server's EventObserver (nil removes it). Without
// one, each event costs the server one atomic load.
func (srv *Server) SetEventObserver(o EventObserver) {
	if o == nil {
		srv.observer.Store(nil)
		return
	}
	srv.observer.Store(&observerBox{o: o})
}

// observeSent reports an event written to one socket.
func (s *Socket) observeSent(p *psio.Packet) {
	if box := s.nsp.srv.observer.Load(); box != nil {
		box.o.EventSent(s.nsp, []*Socket{s}, p.Data)
	}
}
