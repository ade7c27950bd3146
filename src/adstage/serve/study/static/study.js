// The judging page of an adstage study: shows a judge's next item, sends their choice (a click
// or a key), and moves on. Everything the page knows comes from /api/j/<token>/…; the server
// decides the order, the screen sides and what each choice means.
"use strict";

(() => {
  const token = decodeURIComponent(location.pathname.split("/")[2] || "");
  const api = `/api/j/${encodeURIComponent(token)}`;
  const $ = (id) => document.getElementById(id);
  let item = null; // {key, images, choices}
  let busy = true; // no choice until the images are shown, and one at a time
  let shownAt = 0;

  function status(text, error = false) {
    $("status").textContent = text;
    $("status").classList.toggle("error", error);
  }

  function progress(p) {
    $("count").textContent = `${p.done} / ${p.total}`;
    $("fill").style.width = `${p.total ? (100 * p.done) / p.total : 0}%`;
    $("bar").setAttribute("aria-valuemax", String(p.total));
    $("bar").setAttribute("aria-valuenow", String(p.done));
  }

  async function json(response) {
    try {
      return await response.json();
    } catch {
      return { error: { code: "bad_response", message: `server answered ${response.status}` } };
    }
  }

  function button(choice, className, content) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.dataset.choice = choice.value;
    b.append(...content);
    b.addEventListener("click", () => choose(choice.value));
    return b;
  }

  function image(url, n) {
    const img = document.createElement("img");
    img.src = url;
    img.alt = n ? `image ${n}` : "image";
    img.draggable = false;
    return img;
  }

  function render(data) {
    item = data.item;
    $("question").textContent = data.question;
    const images = $("images");
    const choices = $("choices");
    images.replaceChildren();
    choices.replaceChildren();
    const imgs = [];
    if (data.protocol === "g2r") {
      const figure = document.createElement("div");
      figure.className = "single";
      const img = image(item.images[0], 0);
      imgs.push(img);
      figure.append(img);
      images.append(figure);
      for (const c of item.choices) choices.append(button(c, "answer", [c.label]));
      $("keys").textContent = "Keys: R = real photograph, G = generated";
    } else {
      item.images.forEach((url, i) => {
        const c = item.choices[i];
        const caption = document.createElement("span");
        caption.textContent = c.label;
        const img = image(url, i + 1);
        imgs.push(img);
        images.append(button(c, "pick", [img, caption]));
      });
      $("keys").textContent =
        data.protocol === "pairwise"
          ? "Click an image, or press ← / →"
          : `Click an image, or press 1–${item.images.length}`;
    }
    setDisabled(true);
    status("Loading images…");
    Promise.all(imgs.map((img) => img.decode())).then(
      () => {
        busy = false;
        setDisabled(false);
        shownAt = performance.now();
        status("");
      },
      () => status("An image did not load. Reload the page to try again.", true),
    );
  }

  function setDisabled(disabled) {
    for (const b of document.querySelectorAll("button[data-choice]")) b.disabled = disabled;
  }

  async function next() {
    busy = true;
    let response;
    try {
      response = await fetch(`${api}/next`, { cache: "no-store" });
    } catch {
      status("Could not reach the server. Reload the page to try again.", true);
      return;
    }
    const data = await json(response);
    if (!response.ok) {
      status(data.error ? data.error.message : `error ${response.status}`, true);
      return;
    }
    progress(data.progress);
    if (data.done) {
      location.replace(`/j/${encodeURIComponent(token)}/done`);
      return;
    }
    render(data);
  }

  async function choose(value) {
    if (busy || !item) return;
    busy = true;
    setDisabled(true);
    for (const b of document.querySelectorAll(`button[data-choice="${value}"]`)) {
      b.classList.add("chosen");
    }
    const body = { item: item.key, choice: value, ms: Math.round(performance.now() - shownAt) };
    let response;
    try {
      response = await fetch(`${api}/vote`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      status("Could not reach the server; that choice was not saved. Try again.", true);
      retry();
      return;
    }
    if (response.ok || response.status === 409) {
      // 409: this item already has a vote (e.g. sent twice); either way it is saved once
      await next();
      return;
    }
    const data = await json(response);
    status(data.error ? data.error.message : `error ${response.status}`, true);
    retry();
  }

  function retry() {
    for (const b of document.querySelectorAll("button.chosen")) b.classList.remove("chosen");
    busy = false;
    setDisabled(false);
  }

  document.addEventListener("keydown", (event) => {
    if (busy || !item || event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const choice = item.choices.find((c) => c.key === key);
    if (choice) {
      event.preventDefault();
      choose(choice.value);
    }
  });

  next();
})();
