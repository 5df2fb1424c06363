package drupal

import "strconv"

// The rooms of the "/" namespace that hold Drupal's audiences. They are the
// only record of who is in them (the adapter's), and they are public contract
// (docs/CLUSTER.md): an emitter or another node reaches Drupal's audiences
// through them. Socket ids never contain ':', so none of these can be a
// socket's own room, and the prefixes keep them apart from one another.
const (
	// RoomAuthenticated holds every authenticated socket (a Drupal broadcast
	// goes to it).
	RoomAuthenticated = "drupal:authenticated"
	// UserRoomPrefix + uid (decimal) holds the authenticated sockets of a
	// user; drupal:uid:0 those of every anonymous user.
	UserRoomPrefix = "drupal:uid:"
	// TokenRoomPrefix + auth token holds the sockets authenticated with that
	// token (one browser session); the token is used as it came, whatever
	// its characters.
	TokenRoomPrefix = "drupal:token:"
	// ChannelRoomPrefix + name holds the members of a Drupal channel.
	ChannelRoomPrefix = "channel:"
	// ContentRoomPrefix + name holds the members of a content token channel.
	ContentRoomPrefix = "token:"
)

// UserRoom is the room of a user's authenticated sockets.
func UserRoom(uid int64) string { return UserRoomPrefix + strconv.FormatInt(uid, 10) }

// TokenRoom is the room of the sockets authenticated with an auth token.
func TokenRoom(token string) string { return TokenRoomPrefix + token }

// ChannelRoom is the room of a Drupal channel.
func ChannelRoom(name string) string { return ChannelRoomPrefix + name }

// ContentRoom is the room of a content token channel.
func ContentRoom(name string) string { return ContentRoomPrefix + name }

// socketRoom reports whether id can only name a socket's own room: Drupal's
// clientSocketId is input, and a value naming one of the rooms above must not
// exclude a whole audience.
func socketRoom(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return false
		}
	}
	return true
}
