#!/usr/bin/env bash
# socketd's benchmark: builds the load client (bench/socketbench), the floor
# (bench/floor/benchfloor) and the runner (bench/runner), installs the Node peer's
# locked dependencies, then runs the servers through the same scenarios,
# interleaved and repeated. Arguments go to the runner, e.g.
#
#   bench/run.sh                                   # floor and Node peer, 10,000 EIO=3 clients, 3 rounds
#   bench/run.sh -servers floor,node,socketd       # with socketd (bench/nodejs.config.js)
#   DRUPAL_NODE_DIR=/path/to/drupal-nodejs bench/run.sh -servers floor,node,socketd,drupal-node
#                                                  # and drupal-node.js itself (docs/PERFORMANCE.md)
#   bench/run.sh -servers node,socketd -cluster node,socketd
#                                                  # and the cluster scenario: 3 nodes of each kind on one
#                                                  # redis-server, 50,000 clients (-cluster-n)
#   bench/run.sh -n 2000 -runs 1 -bench-args "-stage 2s"
#   bench/run.sh -report bench/results/result.json # rebuild report.html only
#
# Results: bench/results/result.json and bench/results/report.html (and the
# raw socketbench documents and server logs under bench/results/raw/).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
NPM=${NPM:-npm}
export GOFLAGS=${GOFLAGS:--buildvcs=false}

mkdir -p bin
$GO build -o bin/ ./bench/socketbench ./bench/floor/benchfloor
$GO build -o bin/benchrun ./bench/runner
case " $* " in
*socketd*) $GO build -o bin/ ./cmd/socketd ;;
esac
case " $* " in
*" -redis-server"*) ;; # the runner is given its own
*" -cluster "*|*" -cluster="*)
	command -v redis-server >/dev/null || {
		echo "bench: the cluster scenario needs redis-server (apt-get install -y redis-server)" >&2
		exit 1
	}
	;;
esac
# The cluster mode needs the adapter too: an install from before it is redone.
if [ ! -d bench/node-peer/node_modules/socket.io ] || [ ! -d bench/node-peer/node_modules/@socket.io/redis-adapter ]; then
	command -v node >/dev/null || { echo "bench: node is required for the Node peer" >&2; exit 1; }
	(cd bench/node-peer && $NPM ci --no-audit --no-fund --loglevel=error)
fi
exec bin/benchrun "$@"
