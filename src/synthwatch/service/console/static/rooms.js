// The live-rooms page (/console/rooms): redraws the rooms, speakers and alerts from
// /console/rooms/state.json every few seconds, without a reload. Every name comes from a client:
// it is only ever set as textContent (never markup); links are built from server-made case ids.
"use strict";
(function () {
  var list = document.getElementById("rooms-live-list");
  if (!list) { return; }
  var every = parseInt(list.getAttribute("data-poll-ms"), 10) || 2000;
  var status = document.getElementById("rooms-status");

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function score(v) { return (typeof v === "number") ? v.toFixed(3) : "n/a"; }
  function cells(tr, values) { values.forEach(function (v) { tr.appendChild(v instanceof Node ? v : el("td", v)); }); }

  function speakerRow(sp) {
    var tr = el("tr", null, sp.state === "alerting" ? "row-overdue" : "");
    var state = el("td");
    state.appendChild(el("span", sp.state, "sla " + (sp.state === "alerting" ? "sla-overdue" : "sla-on_track")));
    var evidence = el("td", score(sp.evidence) + " ");
    evidence.appendChild(el("span", "/ " + score(sp.threshold), "muted"));
    var audio = el("td", sp.audio_s + " s ");
    audio.appendChild(el("span", "(" + sp.speech_s + " s speech)", "muted"));
    cells(tr, [el("td", sp.participant_shown, "name"), state, score(sp.score), evidence, sp.alerts, audio,
               (sp.lagging ? "lagging" : "no") + " / " + sp.skipped_audio_s + " s", sp.transport]);
    return tr;
  }

  function roomCard(r) {
    var sec = el("section", null, "card room");
    var h = el("h2", "Room ");
    h.appendChild(el("span", r.room_shown, "name"));
    sec.appendChild(h);
    var table = el("table");
    var head = el("tr");
    ["Speaker", "State", "Last score", "Evidence", "Alerts", "Audio", "Lag / skipped", "Via"].forEach(function (t) {
      var th = el("th", t); th.setAttribute("scope", "col"); head.appendChild(th);
    });
    var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    var body = el("tbody");
    r.speakers.forEach(function (sp) { body.appendChild(speakerRow(sp)); });
    table.appendChild(body);
    sec.appendChild(table);
    return sec;
  }

  function alertRow(a) {
    var tr = el("tr");
    var cse = el("td");
    if (a.case_id) {
      var link = el("a", a.case_id);
      link.href = "/console/cases/" + encodeURIComponent(a.case_id);
      cse.appendChild(link);
    } else { cse.appendChild(el("span", "none", "muted")); }
    cells(tr, [a.at, el("td", a.room_shown, "name"), el("td", a.participant_shown, "name"),
               a.t_start + "\u2013" + a.t_end + " s", score(a.score), cse]);
    return tr;
  }

  function draw(s) {
    var rooms = document.createDocumentFragment();
    s.rooms.forEach(function (r) { rooms.appendChild(roomCard(r)); });
    if (!s.rooms.length) { rooms.appendChild(el("p", "No one is streaming into a room right now.", "muted")); }
    if (s.rooms_not_shown) {
      rooms.appendChild(el("p", s.rooms_not_shown + " more live rooms are not shown (the API lists them: GET /v1/rooms).", "muted"));
    }
    list.replaceChildren(rooms);
    var alerts = document.createDocumentFragment();
    s.alerts.forEach(function (a) { alerts.appendChild(alertRow(a)); });
    if (!s.alerts.length) {
      var tr = el("tr"); var td = el("td", "No alerts yet.", "muted"); td.colSpan = 6; tr.appendChild(td);
      alerts.appendChild(tr);
    }
    document.getElementById("rooms-alerts").replaceChildren(alerts);
    document.getElementById("rooms-live").textContent = s.live_rooms;
    document.getElementById("rooms-speakers").textContent = s.live_speakers;
    document.getElementById("rooms-alerting").textContent = s.alerting;
    document.getElementById("rooms-alerting-tile").className = "tile" + (s.alerting ? " bad" : "");
    status.textContent = "As of " + s.at + (s.detector ? " \u00b7 detector " + s.detector + ", alert threshold " +
      score(s.threshold) : "") + " \u00b7 updates every " + Math.round(every / 1000) + " s";
  }

  function poll() {
    fetch("/console/rooms/state.json", {credentials: "same-origin", cache: "no-store", redirect: "manual"})
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401 || r.status === 403) {
          status.textContent = "Your session ended: reload the page to log in again.";
          return null;
        }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (s) { if (s) { draw(s); setTimeout(poll, every); } })
      .catch(function () {
        status.textContent = "Cannot reach the server; retrying\u2026";
        setTimeout(poll, every * 2);
      });
  }
  setTimeout(poll, every);
}());
