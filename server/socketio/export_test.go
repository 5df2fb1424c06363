package socketio

// PendingAttachmentBytes is the attachment bytes held for incomplete binary
// packets, all clients together.
func PendingAttachmentBytes(srv *Server) int64 { return srv.pending.Load() }
