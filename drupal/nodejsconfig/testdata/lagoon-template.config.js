/* socketd test fixture: the container template before substitution. */
settings = {
    scheme: '${NODE_SCHEME:-http}',
    port: 8080,
    backend: {
        port: '${NODE_BACKEND_PORT:-8080}'
    },
    debug: ${NODE_DEBUG:-false}
};
