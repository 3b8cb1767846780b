// The triochat chat page: the native protocol, version 2, over the server's own WebSocket.
//
// Every piece of text from the server (messages, names, room names, errors) goes
// into the page with textContent, never as HTML.
"use strict";

(() => {
  const PATH = "/v2";
  const SUBPROTOCOL = "triochat.v2";
  const HISTORY_PAGE = 50;
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const LOGIN_RETRIES = 5; // a reconnect whose name is still held by the lost connection
  const NEAR_TOP_PX = 40;
  const NEAR_BOTTOM_PX = 40;
  const OPEN = 1; // WebSocket.OPEN
  const POLICY_VIOLATION = 1008; // the close code of a kick or a ban

  const $ = (id) => document.getElementById(id);
  const ui = {
    loginView: $("login-view"),
    loginForm: $("login-form"),
    name: $("name"),
    loginError: $("login-error"),
    chatView: $("chat-view"),
    me: $("me"),
    status: $("status"),
    roomList: $("room-list"),
    joinForm: $("join-form"),
    joinRoom: $("join-room"),
    roomTitle: $("room-title"),
    leaveRoom: $("leave-room"),
    older: $("older"),
    log: $("log"),
    sendForm: $("send-form"),
    message: $("message"),
    memberList: $("member-list"),
  };

  const state = {
    name: null, // our name, as the server spells it
    ws: null, // the open (or opening) WebSocket
    welcomed: false, // the server welcomed this connection
    active: false, // logged in, and not left: a lost connection is reconnected
    quitting: false,
    attempt: 0, // reconnect attempts since the last welcome
    refusals: 0, // reconnects refused because the name was still held
    timer: null,
    rooms: new Map(), // name key -> room
    order: [], // name keys, in the order joined
    current: null, // name key of the room on screen
    pendingJoin: null, // name key of a room asked for with /join
    removed: null, // why the server cut us off for good (kicked, banned): no reconnect
  };

  // Names and rooms ignore case, as on IRC (they are ASCII).
  const key = (name) => name.toLowerCase();

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function hhmm(ts) {
    const date = new Date(ts * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // -- the connection ---------------------------------------------------------------

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // A server with bearer tokens: the page was opened as /?token=TOKEN.
    const token = new URLSearchParams(location.search).get("token");
    const query = token ? `?token=${encodeURIComponent(token)}` : "";
    return `${scheme}//${location.host}${PATH}${query}`;
  }

  function position(room) {
    if (room.epoch === null) return null;
    const seq = room.last !== null ? room.last : room.entered;
    return { epoch: room.epoch, seq: Math.max(0, seq || 0) };
  }

  function loginFrame() {
    const frame = { type: "login", name: state.name };
    if (state.order.length > 0) {
      const rooms = {};
      for (const k of state.order) {
        const room = state.rooms.get(k);
        rooms[room.name] = position(room);
      }
      frame.rooms = rooms;
    }
    return frame;
  }

  function connect() {
    state.timer = null;
    let ws;
    try {
      ws = new WebSocket(socketUrl(), SUBPROTOCOL);
    } catch (err) {
      if (state.active) reconnectLater("Cannot connect.");
      else connectionFailed(String(err));
      return;
    }
    state.ws = ws;
    state.welcomed = false;
    ws.addEventListener("open", () => {
      if (ws === state.ws) ws.send(JSON.stringify(loginFrame()));
    });
    ws.addEventListener("message", (event) => {
      if (ws !== state.ws || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame.type === "string") handle(frame);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== state.ws) return;
      state.ws = null;
      state.welcomed = false;
      closed(event.code);
    });
  }

  function drop() {
    // Close the current socket without reacting to its close.
    const ws = state.ws;
    state.ws = null;
    state.welcomed = false;
    if (ws) ws.close(1000);
  }

  function send(frame) {
    if (!state.ws || !state.welcomed || state.ws.readyState !== OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function closed(code) {
    if (state.removed !== null && state.active && code === POLICY_VIOLATION) {
      // Kicked or banned (the server closes with 1008 after saying so): reconnecting
      // on our own would undo what an operator did.
      showLogin(state.removed);
      return;
    }
    if (state.quitting || !state.active) {
      if (state.active) showLogin("You left the chat.");
      else connectionFailed("could not reach the server");
      return;
    }
    reconnectLater("Connection lost.");
  }

  function connectionFailed(reason) {
    showLogin(`Cannot log in: ${reason}. Try again.`);
  }

  function reconnectLater(why) {
    if (state.timer !== null) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    state.attempt += 1;
    ui.chatView.classList.add("offline");
    setStatus(`${why} Reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    state.timer = setTimeout(connect, delay);
  }

  window.addEventListener("online", () => {
    if (state.timer !== null) {
      clearTimeout(state.timer);
      connect();
    }
  });

  // -- frames from the server --------------------------------------------------------

  function handle(frame) {
    if (frame.type !== "error") state.removed = null; // a kick or a ban is the last frame
    switch (frame.type) {
      case "welcome":
        return onWelcome(frame);
      case "error":
        if (!state.welcomed) return onRefused(frame);
        state.pendingJoin = null; // a /join that failed must not switch rooms later
        // "banned" also answers a /nick to a banned name: only the close code tells them apart.
        state.removed = frame.code === "kicked" || frame.code === "banned" ? frame.message : null;
        return note(currentRoom(), `Error: ${frame.message}`, "error");
      case "room":
        return onRoom(frame);
      case "message":
        return onMessage(frame);
      case "history":
        return onHistory(frame);
      case "private":
        return onPrivate(frame);
      case "joined":
        return onJoined(frame);
      case "left":
        return onLeft(frame);
      case "renamed":
        return onRenamed(frame);
      case "nick":
        state.name = frame.name;
        ui.me.textContent = `You are ${state.name}`;
        return note(currentRoom(), `You are now known as ${frame.name}.`);
      case "who":
        return onWho(frame);
      case "moderation":
        return onModeration(frame);
      case "topic":
        return onTopic(frame);
      case "rooms":
        return note(
          currentRoom(),
          "Rooms: " +
            frame.rooms.map((r) => `#${r.name} (${r.members})${r.joined ? " [joined]" : ""}`).join(", "),
        );
      case "help":
        for (const line of frame.lines) note(currentRoom(), line, "help");
        return;
      case "notice":
        return note(currentRoom(), frame.message);
      case "shutdown":
        return setStatus(`The server is stopping: ${frame.message}`);
      case "goodbye":
        state.quitting = true;
        return;
      default:
        return;
    }
  }

  function onWelcome(frame) {
    state.welcomed = true;
    state.name = frame.name;
    ui.me.textContent = `You are ${state.name}`;
    ui.chatView.classList.remove("offline");
    if (!state.active) {
      state.active = true;
      showChat();
      setStatus(`Connected as ${state.name}.`);
    } else {
      setStatus("Reconnected.");
    }
    state.attempt = 0;
    state.refusals = 0;
  }

  function onRefused(frame) {
    if (!state.active) {
      drop();
      showLogin(frame.message);
      return;
    }
    // A reconnect: the lost connection may still hold the name for a while.
    drop();
    if (frame.code === "name_taken" && state.refusals < LOGIN_RETRIES) {
      state.refusals += 1;
      reconnectLater(`The name ${state.name} is still taken (${frame.message}).`);
      return;
    }
    state.active = false;
    showLogin(`Could not log in again: ${frame.message}`);
  }

  function newRoom(name) {
    const list = el("ol", "messages");
    list.hidden = true;
    list.setAttribute("role", "log");
    list.setAttribute("aria-label", `Messages in #${name}`);
    ui.log.append(list);
    const room = {
      name,
      members: [],
      epoch: null,
      entered: 0,
      last: null, // the highest seq shown
      oldest: null, // the lowest seq shown
      unread: 0,
      catchingUp: false, // messages from the log are what we missed
      loading: false,
      noMore: false,
      list,
      scrollTop: null, // null: at the bottom
    };
    state.rooms.set(key(name), room);
    state.order.push(key(name));
    return room;
  }

  function onRoom(frame) {
    const k = key(frame.room);
    let room = state.rooms.get(k);
    const known = room !== undefined;
    if (!known) room = newRoom(frame.room);
    room.name = frame.room;
    room.members = frame.members.slice();
    if (known && room.epoch !== frame.epoch) {
      note(room, "The history of this room started anew on the server.", "warn");
      room.last = null;
      room.oldest = null;
      room.noMore = false;
    } else if (known && !frame.recovered) {
      // We said where we were (since): the server could not resume from there.
      note(room, "Some messages may be missing: the server could not send everything said while you were away.", "warn");
    }
    room.epoch = frame.epoch;
    room.entered = frame.seq;
    room.catchingUp = known;
    if (state.current === null || state.pendingJoin === k) {
      state.pendingJoin = null;
      select(k);
    } else if (k === state.current) {
      renderMembers();
      renderTitle();
    }
    renderRooms();
  }

  function onMessage(frame) {
    const room = state.rooms.get(key(frame.room));
    if (!room) return;
    if (room.epoch === frame.epoch && room.last !== null && frame.seq <= room.last) return; // seen
    append(room, messageItem(frame));
    room.last = frame.seq;
    if (room.oldest === null) room.oldest = frame.seq;
    const counts = !frame.history || room.catchingUp;
    if (counts && key(room.name) !== state.current && frame.from !== state.name) {
      room.unread += 1;
      renderRooms();
    }
    if (key(room.name) === state.current) renderOlder();
  }

  function onHistory(frame) {
    const room = state.rooms.get(key(frame.room));
    if (!room) return;
    room.loading = false;
    const older = frame.messages.filter(
      (m) => m.epoch === room.epoch && (room.oldest === null || m.seq < room.oldest),
    );
    if (older.length === 0) {
      room.noMore = true;
    } else {
      const list = room.list;
      const before = ui.log.scrollHeight;
      const first = list.firstChild;
      for (const m of older) list.insertBefore(messageItem(m), first);
      room.oldest = older[0].seq;
      if (room.last === null) room.last = older[older.length - 1].seq;
      if (room.oldest <= 1) room.noMore = true;
      if (key(room.name) === state.current) ui.log.scrollTop += ui.log.scrollHeight - before;
    }
    if (key(room.name) === state.current) renderOlder();
  }

  function onPrivate(frame) {
    const item = el("li", "msg private");
    item.append(el("span", "ts", hhmm(Date.now() / 1000)), " ");
    if (frame.echo) {
      item.append(el("span", "tag", "private to "), el("bdi", "from", frame.to), el("span", "sep", ": "));
    } else {
      item.append(el("span", "tag", "private from "), el("bdi", "from", frame.from), el("span", "sep", ": "));
    }
    item.append(el("bdi", "text", frame.text));
    const room = currentRoom();
    if (room) append(room, item);
    else setStatus(`Private message from ${frame.from}: ${frame.text}`);
  }

  function onJoined(frame) {
    const room = state.rooms.get(key(frame.room));
    if (!room) return;
    if (!room.members.some((m) => key(m) === key(frame.name))) room.members.push(frame.name);
    if (key(frame.name) !== key(state.name || "")) note(room, `${frame.name} joined #${room.name}.`);
    if (key(room.name) === state.current) renderMembers();
  }

  function onLeft(frame) {
    const k = key(frame.room);
    const room = state.rooms.get(k);
    if (!room) return;
    if (key(frame.name) === key(state.name || "") && !frame.logout) {
      removeRoom(k);
      return;
    }
    room.members = room.members.filter((m) => key(m) !== key(frame.name));
    const where = frame.logout ? "the chat" : `#${room.name}`;
    note(room, `${frame.name} left ${where}${frame.reason ? ` (${frame.reason})` : ""}.`);
    if (k === state.current) renderMembers();
  }

  function onRenamed(frame) {
    for (const room of state.rooms.values()) {
      const i = room.members.findIndex((m) => key(m) === key(frame.old));
      if (i < 0) continue;
      room.members[i] = frame.new;
      note(room, `${frame.old} is now known as ${frame.new}.`);
    }
    renderMembers();
  }

  // The same words as every other client: "alice was muted in #lobby by op for 10m (spam)".
  const DONE = { kick: "kicked", ban: "banned", unban: "unbanned", mute: "muted", unmute: "unmuted" };

  function duration(seconds) {
    const total = Math.max(1, Math.ceil(seconds));
    if (total < 60) return `${total}s`;
    if (total < 86400) {
      const minutes = Math.ceil(total / 60);
      const h = Math.floor(minutes / 60);
      const m = minutes % 60;
      if (!h) return `${m}m`;
      return m ? `${h}h ${m}m` : `${h}h`;
    }
    const hours = Math.ceil(total / 3600);
    const d = Math.floor(hours / 24);
    const h = hours % 24;
    return h ? `${d}d ${h}h` : `${d}d`;
  }

  function onModeration(frame) {
    let words = `${frame.name} was ${DONE[frame.action] || frame.action}`;
    if (frame.room) words += ` in #${frame.room}`;
    words += ` by ${frame.by}`;
    if (frame.action === "ban" || frame.action === "mute") {
      if (typeof frame.duration === "number") words += ` for ${duration(frame.duration)}`;
      else if (frame.action === "mute") words += " until unmuted";
    }
    if (frame.reason) words += ` (${frame.reason})`;
    const room = frame.room ? state.rooms.get(key(frame.room)) : null;
    note(room || currentRoom(), `${words}.`, "moderation");
  }

  function onTopic(frame) {
    const room = state.rooms.get(key(frame.room));
    let words;
    if (frame.by) {
      words = frame.text ? `${frame.by} set the topic of #${frame.room}: ${frame.text}` : `${frame.by} cleared the topic of #${frame.room}.`;
    } else {
      words = frame.text ? `Topic of #${frame.room}: ${frame.text}` : `#${frame.room} has no topic.`;
    }
    note(room || currentRoom(), words, "topic");
  }

  function onWho(frame) {
    const room = state.rooms.get(key(frame.room));
    if (room) room.members = frame.members.slice();
    note(currentRoom(), `${frame.members.length} in #${frame.room}: ${frame.members.join(", ")}`);
    renderMembers();
  }

  // -- showing ---------------------------------------------------------------------

  function currentRoom() {
    return state.current === null ? null : state.rooms.get(state.current) || null;
  }

  function messageItem(frame) {
    const item = el("li", "msg");
    if (frame.action) item.classList.add("action");
    if (frame.history) item.classList.add("past");
    if (frame.from === state.name) item.classList.add("mine");
    item.dataset.seq = String(frame.seq);
    const time = el("time", "ts", hhmm(frame.ts));
    time.dateTime = new Date(frame.ts * 1000).toISOString();
    item.append(time, " ");
    if (frame.action) item.append(el("span", "sep", "* "));
    item.append(el("bdi", "from", frame.from));
    if (frame.agent) item.append(" ", el("span", "bot", "bot"));
    item.append(el("span", "sep", frame.action ? " " : ": "), el("bdi", "text", frame.text));
    return item;
  }

  function atBottom() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < NEAR_BOTTOM_PX;
  }

  function append(room, item) {
    const visible = key(room.name) === state.current;
    const stick = visible && atBottom();
    room.list.append(item);
    if (stick) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function note(room, text, kind) {
    const item = el("li", `note${kind ? ` ${kind}` : ""}`, text);
    if (room) append(room, item);
    else setStatus(text);
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  function renderTitle() {
    const room = currentRoom();
    ui.roomTitle.textContent = room ? `#${room.name}` : "No room";
    ui.leaveRoom.hidden = !room;
    let unread = 0;
    for (const r of state.rooms.values()) unread += r.unread;
    document.title = unread > 0 ? `(${unread}) triochat` : "triochat";
  }

  function renderRooms() {
    const items = [];
    for (const k of state.order) {
      const room = state.rooms.get(k);
      const button = el("button", "room-button");
      button.type = "button";
      button.dataset.room = room.name;
      button.append(el("bdi", "room-name", `#${room.name}`));
      let label = `#${room.name}`;
      if (room.unread > 0) {
        button.append(el("span", "unread", String(room.unread)));
        label += `, ${room.unread} unread`;
      }
      button.setAttribute("aria-label", label);
      if (k === state.current) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => {
        select(k);
        ui.message.focus();
      });
      const item = el("li");
      item.append(button);
      items.push(item);
    }
    ui.roomList.replaceChildren(...items);
    renderTitle();
  }

  function renderMembers() {
    const room = currentRoom();
    const members = room ? room.members.slice().sort((a, b) => key(a).localeCompare(key(b))) : [];
    ui.memberList.replaceChildren(
      ...members.map((name) => el("li", name === state.name ? "me" : "", name === state.name ? `${name} (you)` : name)),
    );
  }

  // Are there messages older than those on screen? (None shown yet: any at all?)
  function hasOlder(room) {
    if (room.noMore) return false;
    return room.oldest === null ? room.entered > 0 : room.oldest > 1;
  }

  function renderOlder() {
    const room = currentRoom();
    ui.older.hidden = !room || !hasOlder(room);
    ui.older.disabled = !!room && room.loading;
  }

  function select(k) {
    const old = currentRoom();
    if (old) old.scrollTop = atBottom() ? null : ui.log.scrollTop;
    state.current = k;
    for (const room of state.rooms.values()) room.list.hidden = key(room.name) !== k;
    const room = currentRoom();
    if (room) {
      room.unread = 0;
      ui.log.scrollTop = room.scrollTop === null ? ui.log.scrollHeight : room.scrollTop;
    }
    renderRooms();
    renderMembers();
    renderOlder();
  }

  function removeRoom(k) {
    const room = state.rooms.get(k);
    room.list.remove();
    state.rooms.delete(k);
    state.order = state.order.filter((x) => x !== k);
    if (state.current === k) {
      state.current = null;
      select(state.order.length ? state.order[state.order.length - 1] : null);
      note(currentRoom(), `You left #${room.name}.`);
    } else {
      renderRooms();
    }
  }

  function showChat() {
    ui.loginView.hidden = true;
    ui.chatView.hidden = false;
    ui.message.focus();
  }

  function showLogin(message) {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
    drop();
    state.active = false;
    state.quitting = false;
    state.attempt = 0;
    state.refusals = 0;
    for (const room of state.rooms.values()) room.list.remove();
    state.rooms.clear();
    state.order = [];
    state.current = null;
    state.pendingJoin = null;
    state.removed = null;
    ui.chatView.hidden = true;
    ui.chatView.classList.remove("offline");
    ui.loginView.hidden = false;
    ui.loginForm.querySelector("button").disabled = false;
    ui.loginError.textContent = message || "";
    ui.name.setAttribute("aria-invalid", message ? "true" : "false");
    ui.name.focus();
    ui.name.select();
  }

  function loadOlder() {
    const room = currentRoom();
    if (!room || room.loading || !hasOlder(room)) return;
    const frame = { type: "history", room: room.name, limit: HISTORY_PAGE };
    if (room.oldest !== null) frame.before = room.oldest;
    if (send(frame)) {
      room.loading = true;
      renderOlder();
    }
  }

  // -- what the user types -----------------------------------------------------------

  // The same commands as every other triochat client (the server's /help lists them).
  function parseInput(text) {
    if (!text.trim()) return null;
    if (text === "QUIT") return { type: "quit" };
    if (!text.startsWith("/")) return { type: "say", text };
    if (text.startsWith("//")) return { type: "say", text: text.slice(1) };
    const space = text.indexOf(" ");
    const word = space < 0 ? text.slice(1) : text.slice(1, space);
    const rest = space < 0 ? "" : text.slice(space + 1).trim();
    const roomArg = rest.startsWith("#") ? rest.slice(1) : rest;
    switch (word.toLowerCase()) {
      case "quit":
        return { type: "quit" };
      case "help":
        return { type: "help" };
      case "who":
        return { type: "who" };
      case "rooms":
        return { type: "rooms" };
      case "say": {
        const body = text.slice(word.length + 2);
        return body.trim() ? { type: "say", text: body } : { error: "usage: /say text" };
      }
      case "me":
        return rest ? { type: "action", text: rest } : { error: "usage: /me text" };
      case "msg": {
        const gap = rest.indexOf(" ");
        const to = gap < 0 ? rest : rest.slice(0, gap);
        const body = gap < 0 ? "" : rest.slice(gap + 1).trim();
        return to && body ? { type: "private", to, text: body } : { error: "usage: /msg NAME text" };
      }
      case "join":
        return roomArg ? { type: "join", room: roomArg } : { error: "usage: /join ROOM" };
      case "part":
        return { type: "part", room: roomArg || null };
      case "nick":
        return rest && !rest.includes(" ") ? { type: "nick", name: rest } : { error: "usage: /nick NEW" };
      // Operator commands: the server checks who may, and says what is wrong.
      case "kick":
      case "ban":
      case "unban":
      case "mute":
      case "unmute":
        return moderationCommand(word.toLowerCase(), rest);
      case "topic":
        if (!rest) return { type: "topic", room: true };
        return { type: "topic", room: true, text: rest === "-" ? "" : rest };
      default:
        return { error: `unknown command /${word}; type /help for the list` };
    }
  }

  const MODERATION_USAGE = {
    kick: "/kick NAME [reason]",
    ban: "/ban NAME [duration] [reason]",
    unban: "/unban NAME",
    mute: "/mute NAME [duration]",
    unmute: "/unmute NAME",
  };

  // A word that starts with a digit is a duration (so "/ban bob 10" is an error, not a reason).
  function moderationCommand(verb, rest) {
    const usage = { error: `usage: ${MODERATION_USAGE[verb]}` };
    const words = rest.split(/ +/).filter((w) => w);
    if (words.length === 0) return usage;
    const frame = { type: verb, name: words[0] };
    let more = rest.slice(rest.indexOf(words[0]) + words[0].length).trim();
    if ((verb === "ban" || verb === "mute") && /^[0-9]/.test(more)) {
      const gap = more.indexOf(" ");
      frame.duration = gap < 0 ? more : more.slice(0, gap);
      more = gap < 0 ? "" : more.slice(gap + 1).trim();
    }
    if (verb === "kick" || verb === "ban") {
      if (more) frame.reason = more;
    } else if (more) {
      return usage;
    }
    if (verb === "mute" || verb === "unmute") frame.room = true;
    return frame;
  }

  // Carry out one line; false if it could not be sent (the text stays in the box).
  function perform(command) {
    const room = currentRoom();
    if (command.error) {
      note(room, command.error, "error");
      return true;
    }
    if (!state.welcomed && command.type === "quit") {
      showLogin("You left the chat.");
      return true;
    }
    if (!state.welcomed) {
      note(room, "Not connected: nothing was sent. Wait for the reconnection.", "error");
      return false;
    }
    switch (command.type) {
      case "say":
      case "action":
        if (!room) {
          note(null, "You are in no room: /join ROOM first.", "error");
          return true;
        }
        return send({ type: command.type, text: command.text, room: room.name });
      case "join": {
        const k = key(command.room);
        if (state.rooms.has(k)) {
          select(k);
          return true;
        }
        state.pendingJoin = k;
        return send({ type: "join", room: command.room });
      }
      case "part": {
        const name = command.room || (room && room.name);
        if (!name) {
          note(null, "You are in no room.", "error");
          return true;
        }
        return send({ type: "part", room: name });
      }
      case "quit":
        state.quitting = true;
        return send({ type: "quit" });
      case "topic":
      case "mute":
      case "unmute":
        // These act in a room: the one on screen.
        if (!room) {
          note(null, "You are in no room: /join ROOM first.", "error");
          return true;
        }
        return send({ ...command, room: room.name });
      default:
        return send(command);
    }
  }

  ui.loginForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.name.value.trim();
    if (!name) {
      ui.loginError.textContent = "Please enter a name.";
      ui.name.setAttribute("aria-invalid", "true");
      ui.name.focus();
      return;
    }
    if (state.ws || state.active) return;
    ui.loginError.textContent = "";
    ui.loginForm.querySelector("button").disabled = true;
    state.name = name;
    state.quitting = false;
    connect();
  });

  ui.sendForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const command = parseInput(ui.message.value);
    if (command === null) return;
    if (perform(command)) ui.message.value = "";
    ui.message.focus();
  });

  ui.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = ui.joinRoom.value.trim().replace(/^#/, "");
    if (!room) return;
    if (perform({ type: "join", room })) ui.joinRoom.value = "";
    ui.message.focus();
  });

  ui.leaveRoom.addEventListener("click", () => {
    perform({ type: "part", room: null });
    ui.message.focus();
  });

  ui.older.addEventListener("click", loadOlder);
  ui.log.addEventListener("scroll", () => {
    if (ui.log.scrollTop < NEAR_TOP_PX) loadOlder();
  });

  // Alt+Up and Alt+Down switch rooms from the keyboard.
  document.addEventListener("keydown", (event) => {
    if (!event.altKey || ui.chatView.hidden || state.order.length < 2) return;
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    event.preventDefault();
    const i = state.order.indexOf(state.current);
    const step = event.key === "ArrowUp" ? -1 : 1;
    select(state.order[(i + step + state.order.length) % state.order.length]);
  });

  ui.name.focus();
})();
