// Package cluster is the table of live socketd nodes that share one endpoint:
// who is there, under which short tag, and where the others reach them.
//
// Each node runs a Node: it picks a tag (a few characters of the Engine.IO sid
// alphabet, unique among the live nodes), announces itself in a Registry with a
// lease it renews on a heartbeat, and keeps a copy of the live members so that
// lookups cost no round trip. A node that stops renewing (crashed, cut off)
// leaves the table when its lease ends; Config.OnChange tells every other node.
//
// The engine embeds a node's tag in the sids it makes, so any node can tell the
// owner of a session from its sid and forward the request there (no sticky
// sessions). The table is the cluster's one notion of which nodes are alive:
// socketd's Drupal store follows it (Node.Alive, and OnChange for departures)
// to take a dead node's users offline.
//
// Registries: Redis (NewRedis, one hash with server-side expiry, shared by every
// node) and Memory (NewMemory, one process, for tests).
package cluster
