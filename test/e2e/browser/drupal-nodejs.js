// A condensed copy of what the Drupal module's nodejs.js does in a page (spec §5),
// as D7 7.x-1.13 (settings in Drupal.settings.nodejs) or D8 8.x-1.3 (in
// drupalSettings.nodejs) writes it: build the URL from the client settings,
// io.connect(url, options), emit "authenticate" with the auth token and the page's
// content tokens on every connect (no ack), hand every "message" to
// Drupal.Nodejs.runCallbacks. The e2e callbacks report to the test through
// window.e2eReport, a function the driver (run.mjs) exposes to the page.
(function () {
  "use strict";

  function report(ev) {
    try {
      if (typeof window.e2eReport === "function") window.e2eReport(ev);
    } catch (e) { /* the driver is gone */ }
    var status = document.getElementById("status");
    if (status) status.textContent = ev.ev;
  }

  function transportName(socket) {
    var engine = socket && socket.io && socket.io.engine;
    return engine && engine.transport ? engine.transport.name : "";
  }

  Drupal.Nodejs = Drupal.Nodejs || {
    callbacks: {},
    presenceCallbacks: {},
    contentChannelNotificationCallbacks: {},
    connectionSetupHandlers: {},
    socket: false
  };

  // D8 reads the settings from drupalSettings; D7 from Drupal.settings.
  var d8 = typeof drupalSettings !== "undefined";

  Drupal.Nodejs.runCallbacks = function (message) {
    // D7 compares with socket.id; D8 with socket.sessionid, which no
    // socket.io client since 1.0 has, so it never drops anything.
    var own = d8 ? Drupal.Nodejs.socket.sessionid : Drupal.Nodejs.socket.id;
    if (message.clientSocketId && message.clientSocketId === own) {
      return;
    }
    var names = message.callback ? [].concat(message.callback) : null;
    var list, key;
    if (names) {
      for (var i = 0; i < names.length; i++) {
        var cb = Drupal.Nodejs.callbacks[names[i]];
        if (cb && typeof cb.callback === "function") cb.callback(message);
      }
      return;
    }
    if (message.presenceNotification !== undefined) {
      list = Drupal.Nodejs.presenceCallbacks;
    } else if (message.contentChannelNotification !== undefined) {
      list = Drupal.Nodejs.contentChannelNotificationCallbacks;
    } else {
      list = Drupal.Nodejs.callbacks;
    }
    for (key in list) {
      if (list.hasOwnProperty(key) && typeof list[key].callback === "function") list[key].callback(message);
    }
  };

  Drupal.Nodejs.connect = function () {
    var s = d8 ? drupalSettings.nodejs : Drupal.settings.nodejs;
    var url, options;
    if (d8) {
      url = s.client.scheme + "://" + s.client.host + ":" + s.client.port;
      // transports and path are undefined unless the site's config adds
      // them: the client's defaults apply.
      options = { timeout: s.connectTimeout || 5000, transports: s.client.transports, path: s.client.path };
    } else {
      url = (s.client.secure ? "https" : "http") + "://" + s.client.host + ":" + s.client.port;
      // A socket.io 0.9 option name that later clients ignore.
      options = { "connect timeout": s.connectTimeout || 5000 };
    }
    var socket = io.connect(url, options);
    Drupal.Nodejs.socket = socket;
    report({ ev: "loaded", url: url, drupal: d8 ? "d8" : "d7" });
    // The Engine.IO connection opens on its first transport; upgrades are reported.
    socket.io.on("open", function () {
      var engine = socket.io.engine;
      var t = engine.transport;
      report({ ev: "open", transport: transportName(socket), eio: t && t.query ? String(t.query.EIO) : "" });
      engine.on("upgrade", function () {
        report({ ev: "upgrade", transport: transportName(socket) });
      });
    });
    socket.on("connect", function () {
      report({ ev: "connect", id: socket.id, transport: transportName(socket) });
      socket.emit("authenticate", { authToken: s.authToken, contentTokens: s.contentTokens });
    });
    socket.on("message", Drupal.Nodejs.runCallbacks);
    socket.on("disconnect", function (reason) {
      report({ ev: "disconnect", reason: String(reason) });
    });
    socket.on("connect_error", function (err) {
      report({ ev: "connect_error", error: String(err && err.message || err) });
    });
  };

  // The e2e test's callbacks, registered as a Drupal module would.
  Drupal.Nodejs.callbacks.clientAuthenticated = {
    callback: function (message) {
      report({ ev: "message", data: message, raw: JSON.stringify(message), transport: transportName(Drupal.Nodejs.socket) });
    }
  };
  Drupal.Nodejs.callbacks.e2eBrowser = {
    callback: function (message) {
      report({ ev: "message", data: message, raw: JSON.stringify(message), transport: transportName(Drupal.Nodejs.socket) });
    }
  };

  if (typeof io === "undefined") {
    report({ ev: "no_io" });
    return;
  }
  Drupal.Nodejs.connect();
})();
