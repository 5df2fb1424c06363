// Package redisstore is the store.Store of a cluster: the Drupal bridge's data
// (auth cache, channel registry, presence, content tokens) in Redis, shared by
// every node of a site, so that any node answers every Drupal call for the
// whole cluster. Decisions are Lua scripts, atomic in Redis: a user comes
// online and goes offline once for the cluster (Drupal hears userOnline and
// userOffline once per transition), a content token is redeemed once
// anywhere. Which nodes are alive is not the store's to decide: it follows
// the cluster's table of live nodes (Config.Nodes, server/cluster in socketd),
// and a node the table drops has its users taken offline by the others. While
// Redis is away each node serves from what it holds and announces itself when
// Redis answers again.
//
// It uses github.com/redis/go-redis/v9 and imports socketd's drupal/store only.
package redisstore
