// Passkey sign-in on the hosted sign-in page (served as a file: the page CSP allows no inline
// script). Without JavaScript or WebAuthn the page is the password form alone.
"use strict";

(() => {
  const b64url = {
    decode(text) {
      const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
      const padded = base64 + "===".slice((base64.length + 3) % 4);
      return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
    },
    encode(buffer) {
      let binary = "";
      for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
      return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };

  /** The request options of the API (WebAuthn JSON) as `navigator.credentials.get` takes them. */
  function requestOptions(json) {
    const options = { ...json, challenge: b64url.decode(json.challenge) };
    if (json.allowCredentials) {
      options.allowCredentials = json.allowCredentials.map((c) => ({ ...c, id: b64url.decode(c.id) }));
    }
    return options;
  }

  /** An assertion as the API takes it (`PublicKeyCredential.toJSON()`). */
  function assertionJson(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: b64url.encode(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: b64url.encode(r.authenticatorData),
        clientDataJSON: b64url.encode(r.clientDataJSON),
        signature: b64url.encode(r.signature),
        userHandle: r.userHandle ? b64url.encode(r.userHandle) : null,
      },
      extensions: credential.getClientExtensionResults(),
    };
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  }

  const area = document.getElementById("passkey-area");
  const button = document.getElementById("passkey-sign-in");
  const problem = document.getElementById("passkey-problem");
  const nextInput = document.querySelector('input[name="next"]');
  if (!area || !button || !window.PublicKeyCredential || !navigator.credentials) return;
  area.hidden = false;

  let pending = null; // the AbortController of the request in progress (autofill or button)

  function show(message) {
    problem.textContent = message;
    problem.hidden = !message;
  }

  async function signIn(mediation) {
    if (pending) pending.abort();
    const controller = new AbortController();
    pending = controller;
    const start = await post("/api/passkeys/login/start", {});
    if (!start.ok) throw new Error(start.data?.error?.message || "Passkey sign-in is not available.");
    const options = { publicKey: requestOptions(start.data.publicKey), signal: controller.signal };
    if (mediation) options.mediation = mediation;
    const credential = await navigator.credentials.get(options);
    if (!credential) return;
    const finish = await post("/api/passkeys/login/finish", {
      ceremony: start.data.ceremony,
      credential: assertionJson(credential),
    });
    if (!finish.ok) throw new Error(finish.data?.error?.message || "The passkey could not be verified.");
    const next = nextInput && nextInput.value.startsWith("/") ? nextInput.value : "/";
    window.location.assign(next);
  }

  function failed(error) {
    if (error && error.name === "AbortError") return;
    if (error && error.name === "NotAllowedError") {
      show("The passkey sign-in was cancelled or timed out.");
      return;
    }
    show(error && error.message ? error.message : "Passkey sign-in failed.");
  }

  button.addEventListener("click", () => {
    show("");
    signIn(null).catch(failed);
  });

  // Autofill: the browser offers passkeys in the email field's suggestions.
  if (PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable()
      .then((available) => {
        if (available) signIn("conditional").catch(failed);
      })
      .catch(() => {});
  }
})();
