// Package store keeps the Drupal bridge's own data, apart from room
// membership (which is the adapter's): the auth cache with its time to live,
// the channel registry, presence with its grace period, and content tokens.
// Memory keeps it in this process for a single node; redisstore shares it
// between the nodes of a cluster, with the same interface and, for one node,
// the same behaviour (storetest is the suite both pass).
//
// It imports nothing of socketd; package drupal imports it.
package store
