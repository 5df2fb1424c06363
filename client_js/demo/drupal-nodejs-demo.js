/*
 * drupal-nodejs-demo.js: the socketd demo page's client.
 *
 * The first half is a small Drupal.Nodejs-style client, written from socketd's
 * description of Drupal's nodejs.js (drupal-nodejs spec §4.2 and §5), not
 * taken from it: connect, emit "authenticate" on every connect, and dispatch
 * each "message" the server pushes to registered callbacks. The second half
 * wires it to the page. No frameworks; works with socket.io-client 2.x and 4.x.
 */
(function () {
  'use strict';

  // ---- Drupal.Nodejs-style client --------------------------------------

  var Drupal = window.Drupal = window.Drupal || {};
  var Nodejs = Drupal.Nodejs = Drupal.Nodejs || {};
  Nodejs.callbacks = Nodejs.callbacks || {};                   // name -> {callback: fn(message)}
  Nodejs.presenceCallbacks = Nodejs.presenceCallbacks || {};   // key -> {callback: fn(message)}
  Nodejs.contentChannelNotificationCallbacks = Nodejs.contentChannelNotificationCallbacks || {};
  Nodejs.connectionSetupHandlers = Nodejs.connectionSetupHandlers || {}; // key -> {connect, disconnect, connectionFailure}
  Nodejs.socket = null;

  // invoke calls method(arg) on every entry of table that has it.
  function invoke(table, method, arg) {
    Object.keys(table).forEach(function (key) {
      if (table[key] && typeof table[key][method] === 'function') {
        table[key][method](arg);
      }
    });
  }

  // runCallbacks dispatches one server message (spec §4.2): a message this
  // socket caused is dropped; a named callback (string or array) runs just
  // those; presence and content-channel notifications go to their own
  // tables; anything else goes to every callback.
  Nodejs.runCallbacks = function (message) {
    if (message.clientSocketId && Nodejs.socket && message.clientSocketId === Nodejs.socket.id) {
      return;
    }
    if (message.callback) {
      [].concat(message.callback).forEach(function (name) {
        var entry = Nodejs.callbacks[name];
        if (entry && typeof entry.callback === 'function') {
          entry.callback(message);
        }
      });
    } else if (message.presenceNotification) {
      invoke(Nodejs.presenceCallbacks, 'callback', message);
    } else if (message.contentChannelNotification) {
      invoke(Nodejs.contentChannelNotificationCallbacks, 'callback', message);
    } else {
      invoke(Nodejs.callbacks, 'callback', message);
    }
  };

  // connect opens the socket the way the Drupal client does (spec §5) and
  // returns false when the socket.io client did not load.
  Nodejs.connect = function (url, options, authToken, contentTokens) {
    if (typeof window.io === 'undefined') {
      return false;
    }
    var socket = Nodejs.socket = window.io.connect(url, options);
    socket.on('connect', function () {
      // On every connect, reconnects included: the server forgets a socket's
      // authentication when it goes away.
      socket.emit('authenticate', {authToken: authToken, contentTokens: contentTokens});
      invoke(Nodejs.connectionSetupHandlers, 'connect', socket);
    });
    socket.on('message', function (message) {
      Nodejs.runCallbacks(message); // looked up late so a page may wrap it
    });
    socket.on('disconnect', function (reason) {
      invoke(Nodejs.connectionSetupHandlers, 'disconnect', reason);
    });
    setTimeout(function () {
      if (!socket.connected) {
        invoke(Nodejs.connectionSetupHandlers, 'connectionFailure', socket);
      }
    }, options.timeout + 250);
    return true;
  };

  // ---- the demo page ----------------------------------------------------

  var socketPath = document.body.getAttribute('data-socket-path') || '/socket.io';
  var apiPath = document.body.getAttribute('data-api-path') || '/nodejs/';
  var serviceKey = document.body.getAttribute('data-service-key') || '';
  var statusEl = document.getElementById('status');
  var list = document.getElementById('messages');
  var authToken = new URLSearchParams(location.search).get('authToken') ||
    'user-' + (1 + Math.floor(Math.random() * 1000));
  var uid = (/^user-([0-9]+)$/.exec(authToken) || [])[1];

  function status(text) { statusEl.textContent = text; }

  // shellQuote quotes s for a POSIX shell.
  function shellQuote(s) {
    return "'" + s.replace(/'/g, "'\\''") + "'";
  }

  // curl is the shell command publishing message (spec §2, publish), with
  // this server's service key, so that it works as shown.
  function curl(message) {
    return 'curl -X POST -H ' + shellQuote('Content-Type: application/json') +
      (serviceKey ? ' -H ' + shellQuote('NodejsServiceKey: ' + serviceKey) : '') +
      ' -d ' + shellQuote(JSON.stringify(message)) + ' ' + shellQuote(location.origin + apiPath + 'publish');
  }

  document.getElementById('token').textContent = authToken;
  document.getElementById('curl-broadcast').textContent = curl({
    broadcast: true, channel: 'nodejs_notify', callback: 'nodejsNotify',
    data: {subject: 'Hi', body: 'from curl'}
  });
  if (uid && uid !== '0') {
    var userCurl = document.getElementById('curl-user');
    userCurl.textContent = curl({
      channel: 'nodejs_user_' + Number(uid), callback: 'nodejsNotify',
      data: {subject: 'Hi user ' + Number(uid), body: 'only for you'}
    });
    userCurl.hidden = false;
    document.getElementById('curl-user-intro').hidden = false;
  }

  // Every message is listed before the callbacks run; each callback then adds
  // a note to the newest entry, so the page shows how dispatch went.
  var runCallbacks = Nodejs.runCallbacks;
  Nodejs.runCallbacks = function (message) {
    var item = document.createElement('li');
    var code = document.createElement('code');
    code.textContent = JSON.stringify(message);
    item.appendChild(document.createTextNode(new Date().toLocaleTimeString() + ' '));
    item.appendChild(code);
    list.insertBefore(item, list.firstChild);
    runCallbacks(message);
  };
  function note(text) {
    var what = document.createElement('div');
    what.className = 'what';
    what.textContent = '→ ' + text;
    if (list.firstChild) {
      list.firstChild.appendChild(what);
    }
  }

  Nodejs.callbacks.nodejsNotify = {
    callback: function (message) {
      var data = message.data || {};
      var text = [data.subject, data.body].filter(Boolean).join(' — ');
      note('nodejsNotify' + (text ? ': ' + text : ''));
    }
  };
  Nodejs.callbacks.clientAuthenticated = {
    callback: function (message) {
      var reply = message.data || {};
      note('clientAuthenticated');
      if (message.callback === 'clientAuthenticated') {
        status('authenticated as uid ' + reply.uid + ', channels: ' + (reply.channels || []).join(', '));
      }
    }
  };
  Nodejs.presenceCallbacks.demo = {
    callback: function (message) {
      note('presence: uid ' + message.presenceNotification.uid + ' ' + message.presenceNotification.event);
    }
  };
  Nodejs.contentChannelNotificationCallbacks.demo = {
    callback: function (message) {
      note('content channel ' + message.channel + ': ' + JSON.stringify(message.data));
    }
  };
  Nodejs.connectionSetupHandlers.demo = {
    connect: function (socket) {
      status('connected (socket ' + socket.id + '), authenticating…');
    },
    disconnect: function (reason) {
      // After a disconnect by either side the socket.io client does not
      // reconnect by itself; after any other (transport close, ping
      // timeout) it does.
      if (reason === 'io server disconnect') {
        status('disconnected by the server (' + reason + '); it does not reconnect by itself: reload the page');
      } else if (reason === 'io client disconnect') {
        status('disconnected (' + reason + ')');
      } else {
        status('disconnected (' + reason + '), reconnecting…');
      }
    },
    connectionFailure: function () {
      status('could not connect within 5 s; is socketd running?');
    }
  };

  if (!Nodejs.connect(location.origin, {timeout: 5000, path: socketPath}, authToken)) {
    status('the socket.io client did not load from ' + socketPath +
      '/socket.io.js: run `make client-js` and restart socketd');
  }
})();
