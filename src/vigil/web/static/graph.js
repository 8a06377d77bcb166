// The interactive relationship graph (Cytoscape.js, vendored): labels, filters by node type and
// minimum link weight, click-through to each node's page.
(function () {
  "use strict";
  const COLOURS = {
    case: "#8a3ffc", campaign: "#d12771", account: "#1192e8", url: "#198038", domain: "#005d5d",
    hashtag: "#b28600", narrative: "#fa4d56", image_pdq: "#6f6f6f", image_md5: "#6f6f6f",
    text_exact: "#6f6f6f", text_minhash: "#6f6f6f", technique: "#a56eff", organisation: "#002d9c",
  };
  document.addEventListener("DOMContentLoaded", function () {
    const elements = JSON.parse(document.getElementById("graph-data").textContent);
    const weights = elements.filter((e) => e.data.source).map((e) => e.data.weight || 0);
    const maxWeight = Math.max(1, ...weights);
    const cy = cytoscape({
      container: document.getElementById("graph"),
      elements: elements,
      wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: {
          label: "data(label)", "font-size": 9, "text-valign": "bottom", "text-margin-y": 3,
          "text-wrap": "ellipsis", "text-max-width": 120, width: 14, height: 14,
          "background-color": (n) => COLOURS[n.data("group")] || "#888",
        } },
        { selector: "node[group = 'case'], node[group = 'campaign']", style: { width: 26, height: 26, "font-weight": 600, shape: "round-rectangle" } },
        { selector: "node[group = 'account']", style: { "font-size": 7, "min-zoomed-font-size": 6 } },
        { selector: "node[url]", style: { "border-width": 1, "border-color": "#333" } },
        { selector: "edge", style: {
          width: (e) => 0.5 + 3 * (e.data("weight") || 0) / maxWeight, "line-color": "#b8c0cc", "curve-style": "haystack", opacity: 0.7,
        } },
        { selector: "edge[kind = 'co-action']", style: { "line-color": "#5d6677" } },
        { selector: ".faded", style: { display: "none" } },
      ],
      // Deterministic (randomize: false) and spread out: co-action links short, case/campaign links long.
      layout: {
        name: "cose", animate: false, randomize: false, numIter: 2500, gravity: 0.15, nodeOverlap: 40,
        nodeRepulsion: () => 60000,
        idealEdgeLength: (e) => (e.data("kind") === "co-action" ? 90 : 170),
        edgeElasticity: (e) => (e.data("kind") === "co-action" ? 60 : 200),
      },
    });
    window.vigilGraph = cy;  // for tests and the console
    const groups = [...new Set(cy.nodes().map((n) => n.data("group")))].sort();
    const box = document.getElementById("graph-groups");
    const hidden = new Set();
    const slider = document.getElementById("graph-weight");
    slider.max = String(maxWeight);
    slider.step = String(maxWeight / 20);
    function apply() {
      const min = parseFloat(slider.value);
      document.getElementById("graph-weight-out").textContent = min.toFixed(2);
      cy.batch(function () {
        cy.nodes().forEach((n) => n.toggleClass("faded", hidden.has(n.data("group"))));
        cy.edges().forEach((e) => e.toggleClass("faded", e.data("kind") === "co-action" && (e.data("weight") || 0) < min));
      });
      const shown = cy.nodes().filter((n) => !n.hasClass("faded")).length;
      document.getElementById("graph-count").textContent = shown + " of " + cy.nodes().length + " nodes shown, " + cy.edges().length + " links";
    }
    groups.forEach(function (g) {
      const label = document.createElement("label");
      label.className = "chk";
      const count = cy.nodes().filter((n) => n.data("group") === g).length;
      label.innerHTML = '<input type="checkbox" checked> <span class="dot" style="color:' + (COLOURS[g] || "#888") + '">●</span> ' + g + " (" + count + ")";
      label.querySelector("input").setAttribute("data-group", g);
      label.querySelector("input").addEventListener("change", function (e) {
        if (e.target.checked) hidden.delete(g); else hidden.add(g);
        apply();
      });
      box.appendChild(label);
    });
    slider.addEventListener("input", apply);
    document.getElementById("graph-fit").addEventListener("click", () => cy.fit(undefined, 20));
    cy.on("tap", "node", function (evt) {
      const url = evt.target.data("url");
      if (url) window.location.assign(url);
    });
    apply();
  });
})();
