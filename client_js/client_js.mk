# client_js/client_js.mk: builds the socket.io browser client bundles that the
# Go package clientjs embeds (client_js/dist/v2, client_js/dist/v4). They come
# from the npm registry, pinned by client_js/package-lock.json, and are never
# committed.
#
# Include it from the root Makefile:   include client_js/client_js.mk
# or run it alone from the repo root:  make -f client_js/client_js.mk client-js
#
# It also builds the socket.io admin UI (client_js/admin_ui/dist, from the npm
# package @socket.io/admin-ui's ui/dist), pinned by
# client_js/admin_ui/package-lock.json: an npm project of its own, so that the
# package's peer dependency (the Node socket.io server) stays out of both.
#
# Targets: client-js (npm ci, then copy; does nothing when up to date) and
# client-js-clean. Needs node and npm.

# The directory of this file, captured before any other include changes MAKEFILE_LIST.
CLIENT_JS_MK  := $(lastword $(MAKEFILE_LIST))
CLIENT_JS_DIR := $(patsubst %/,%,$(dir $(CLIENT_JS_MK)))
NPM ?= npm

# npm rewrites node_modules/.package-lock.json on every install, so it stamps
# node_modules against package.json and the lockfile.
CLIENT_JS_INSTALLED := $(CLIENT_JS_DIR)/node_modules/.package-lock.json

.PHONY: client-js client-js-clean

client-js: $(CLIENT_JS_DIR)/dist/v2/VERSION $(CLIENT_JS_DIR)/dist/v4/VERSION $(CLIENT_JS_DIR)/admin_ui/dist/VERSION

$(CLIENT_JS_INSTALLED): $(CLIENT_JS_DIR)/package.json $(CLIENT_JS_DIR)/package-lock.json
	@command -v node >/dev/null && command -v $(NPM) >/dev/null || { \
	  echo "client-js: node and npm are needed to fetch the socket.io client bundles"; exit 1; }
	cd $(CLIENT_JS_DIR) && $(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# client_js_copy(major, npm alias, files in the package's dist/): replace
# dist/<major>/ with those files, then write the package version to VERSION
# last (the ETag, and the stamp this rule is judged by).
define client_js_copy
	@rm -rf $(CLIENT_JS_DIR)/dist/$(1) && mkdir -p $(CLIENT_JS_DIR)/dist/$(1)
	cp $(addprefix $(CLIENT_JS_DIR)/node_modules/$(2)/dist/,$(3)) $(CLIENT_JS_DIR)/dist/$(1)/
	cd $(CLIENT_JS_DIR) && node -p 'require("./node_modules/$(2)/package.json").version' >dist/$(1)/VERSION.tmp \
	  && mv dist/$(1)/VERSION.tmp dist/$(1)/VERSION
endef

# socket.io-client 2.x: dist/socket.io.js is already the minified build (the
# file socket.io 2.x servers hand out at /socket.io/socket.io.js); there is no
# socket.io.min.js, so clientjs serves that name from the same bytes.
$(CLIENT_JS_DIR)/dist/v2/VERSION: $(CLIENT_JS_INSTALLED) $(CLIENT_JS_MK)
	$(call client_js_copy,v2,socket.io-client-v2,socket.io.js socket.io.js.map)

# socket.io-client 4.x: readable and minified builds, each with its map.
$(CLIENT_JS_DIR)/dist/v4/VERSION: $(CLIENT_JS_INSTALLED) $(CLIENT_JS_MK)
	$(call client_js_copy,v4,socket.io-client-v4,socket.io.js socket.io.js.map socket.io.min.js socket.io.min.js.map)

# The admin UI: its ui/dist without the source maps (3.4 MB the binary would
# carry for nobody), and the icon font its page takes from a CDN (@mdi/font's
# CSS and WOFF2 only, what browsers of today load), VERSION last as above.
ADMIN_UI_DIR       := $(CLIENT_JS_DIR)/admin_ui
ADMIN_UI_INSTALLED := $(ADMIN_UI_DIR)/node_modules/.package-lock.json

$(ADMIN_UI_INSTALLED): $(ADMIN_UI_DIR)/package.json $(ADMIN_UI_DIR)/package-lock.json
	@command -v node >/dev/null && command -v $(NPM) >/dev/null || { \
	  echo "client-js: node and npm are needed to fetch the socket.io admin UI"; exit 1; }
	cd $(ADMIN_UI_DIR) && $(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(ADMIN_UI_DIR)/dist/VERSION: $(ADMIN_UI_INSTALLED) $(CLIENT_JS_MK)
	@find $(ADMIN_UI_DIR)/dist -mindepth 1 ! -name .keep -delete 2>/dev/null; mkdir -p $(ADMIN_UI_DIR)/dist
	cp -R $(ADMIN_UI_DIR)/node_modules/@socket.io/admin-ui/ui/dist/. $(ADMIN_UI_DIR)/dist/
	find $(ADMIN_UI_DIR)/dist -name '*.map' -delete
	mkdir -p $(ADMIN_UI_DIR)/dist/mdi/css $(ADMIN_UI_DIR)/dist/mdi/fonts
	cp $(ADMIN_UI_DIR)/node_modules/@mdi/font/css/materialdesignicons.min.css $(ADMIN_UI_DIR)/dist/mdi/css/
	cp $(ADMIN_UI_DIR)/node_modules/@mdi/font/fonts/materialdesignicons-webfont.woff2 $(ADMIN_UI_DIR)/dist/mdi/fonts/
	cd $(ADMIN_UI_DIR) && node -p 'require("./node_modules/@socket.io/admin-ui/package.json").version' >dist/VERSION.tmp \
	  && mv dist/VERSION.tmp dist/VERSION

client-js-clean:
	rm -rf $(CLIENT_JS_DIR)/node_modules $(CLIENT_JS_DIR)/dist/v2 $(CLIENT_JS_DIR)/dist/v4 $(ADMIN_UI_DIR)/node_modules
	find $(ADMIN_UI_DIR)/dist -mindepth 1 ! -name .keep -delete 2>/dev/null || true
