//! `arbor trace <id>`: a trace drawn as a waterfall in the terminal.
//!
//! The spans are arranged into a tree by parent span ID. Traces are often incomplete, so a span
//! whose parent is not in the trace becomes an extra root (drawn with a `┄` marker); parent
//! cycles and duplicate span IDs are tolerated, every span is drawn exactly once. Roots and
//! siblings are ordered by start time.
//!
//! What it looks like (every line fits in `width` columns; the header wraps when narrow):
//!
//! ```text
//! trace 4bf92f3577b34da6a3ce929d0e0e4736 · root frontend GET /checkout
//! 1.24s · 6 spans · 3 services · 2 errors
//!                                               0     310ms    620ms   930ms 1.24s
//! frontend GET /checkout       1.24s [server]   ██████████████████████████████████
//! ├─ frontend cart.GetCart     120ms [client]   ███▋
//! │ └─ cart GetCart            110ms [server]   ███▍
//! └─ frontend payment.Charge   1.06s [client] ✗     ████████████████████████████▉
//! ```
//!
//! A span line: tree, service and name (shortened with `…`), duration, kind, error mark, and
//! a bar placed on the trace's time range (ends to an eighth of a column; a span too short
//! for one still gets a `▏`). With colour, each service has its own colour and errors are red.
//!
//! Widths are counted in terminal columns: box-drawing characters, `µ`, `…` and blocks are one
//! column, East Asian wide characters two. Control characters in names are replaced so a span
//! name can never break a line or smuggle an escape sequence. With `color` off the output holds
//! no escape codes at all.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use arbor_model::otlp::{ResourceSpans, Span, SpanKind, StatusCode, service_name};

/// How to draw the waterfall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Total terminal columns; no line is longer than this (e.g. 120).
    pub width: usize,
    /// ANSI colours. When false, the output contains no escape codes at all.
    pub color: bool,
    /// Print at most this many span lines, then a line saying how many were left out.
    pub max_spans: Option<usize>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            width: 120,
            color: false,
            max_spans: None,
        }
    }
}

/// Render the spans of one trace (as returned by the query API) as a waterfall.
///
/// Never panics and never loops forever, whatever the input: empty or duplicate span IDs,
/// parent cycles, end before start, zero-duration traces, any width. The result ends with a
/// newline.
pub fn render(resource_spans: &[ResourceSpans], opts: &RenderOptions) -> String {
    let width = opts.width.min(MAX_WIDTH);
    let tree = Tree::build(resource_spans);
    let shown = opts
        .max_spans
        .map_or(tree.rows.len(), |m| m.min(tree.rows.len()));
    // Roughly what the lines take (bar blocks are three bytes), to grow the output only once.
    let mut out = String::with_capacity((shown + 4) * (2 * width.min(256) + 32));
    if tree.nodes.is_empty() {
        let mut line = Line::new(&mut out, width, opts.color);
        line.text("trace has no spans", Style::Bold);
        line.finish();
        return out;
    }

    let layout = Layout::new(&tree, &tree.rows[..shown], width);

    render_header(&tree, width, opts.color, &mut out);
    render_axis(&tree, &layout, opts.color, &mut out);
    render_rows(&tree, &tree.rows[..shown], &layout, opts.color, &mut out);

    let hidden = tree.rows.len() - shown;
    if hidden > 0 {
        let mut line = Line::new(&mut out, width, opts.color);
        let text = format!(
            "… {hidden} more {} not shown ({shown} of {})",
            plural(hidden, "span", "spans"),
            tree.rows.len()
        );
        line.text(&text, Style::Dim);
        line.finish();
    }
    out
}

/// Widths beyond this are treated as this, so absurd widths cannot exhaust memory.
const MAX_WIDTH: usize = 4096;
/// Columns of the duration column (`"12.3ms"`, `"2m03s"`, `"850µs"` all fit).
const DUR_W: usize = 7;
const UNKNOWN_SERVICE: &str = "unknown_service";
const ERROR_MARK: &str = "✗";
/// Drawn before a root whose parent is missing (or unusable): the trace is incomplete there.
const DETACHED_MARK: &str = "┄ ";
const FULL_BLOCK: &str = "█";
const SPACES: &str = "                                ";
/// Eighth blocks, for the sub-column end of a bar; index = eighths.
const PARTIAL_BLOCKS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
/// 256-colour foregrounds for services; no red, which means error.
const PALETTE: [u8; 12] = [39, 114, 214, 141, 80, 221, 175, 110, 150, 179, 68, 173];
const RED: u8 = 196;

// ---------------------------------------------------------------------------------------------
// The span tree.

struct Node<'a> {
    span: &'a Span,
    service: &'a str,
    start: u64,
    /// Never before `start`.
    end: u64,
    parent: Option<usize>,
    /// Has a parent span ID that does not resolve to another span of the trace.
    orphan: bool,
    error: bool,
}

/// One span line, in display (pre-)order.
#[derive(Clone, Copy)]
struct Row {
    node: usize,
    depth: usize,
    /// Last among its siblings (draws `└─` rather than `├─`).
    last: bool,
    /// A root that is not a real root: parent missing, or chosen to break a parent cycle.
    detached: bool,
}

struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    rows: Vec<Row>,
    t0: u64,
    t1: u64,
    roots: usize,
    orphans: usize,
    cycles: usize,
    duplicate_ids: usize,
    services: usize,
    errors: usize,
    trace_ids: Vec<&'a [u8]>,
}

impl<'a> Tree<'a> {
    fn build(resource_spans: &'a [ResourceSpans]) -> Self {
        let mut nodes = Vec::new();
        let mut services = HashSet::new();
        for rs in resource_spans {
            let service = service_name(rs.resource.as_ref()).unwrap_or(UNKNOWN_SERVICE);
            if rs.scope_spans.iter().any(|ss| !ss.spans.is_empty()) {
                services.insert(service);
            }
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let start = span.start_time_unix_nano;
                    nodes.push(Node {
                        span,
                        service,
                        start,
                        end: span.end_time_unix_nano.max(start),
                        parent: None,
                        orphan: false,
                        error: span
                            .status
                            .as_ref()
                            .is_some_and(|s| s.code == StatusCode::Error as i32),
                    });
                }
            }
        }
        let n = nodes.len();

        // Span ID → first span carrying it. Empty IDs cannot be referred to.
        let mut by_id: HashMap<&[u8], usize> = HashMap::with_capacity(n);
        let mut duplicate_ids = 0;
        for (i, node) in nodes.iter().enumerate() {
            let id = node.span.span_id.as_slice();
            if !id.is_empty() && *by_id.entry(id).or_insert(i) != i {
                duplicate_ids += 1;
            }
        }
        let mut orphans = 0;
        for (i, node) in nodes.iter_mut().enumerate() {
            let pid = node.span.parent_span_id.as_slice();
            if pid.is_empty() {
                continue;
            }
            match by_id.get(pid) {
                Some(&p) if p != i => node.parent = Some(p),
                _ => {
                    node.orphan = true;
                    orphans += 1;
                }
            }
        }

        // Everything ordered by (start, input position); children lists come out sorted.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (nodes[i].start, i));
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for &i in &order {
            match nodes[i].parent {
                Some(p) => children[p].push(i),
                None => roots.push(i),
            }
        }

        let mut rows = Vec::with_capacity(n);
        let mut visited = vec![false; n];
        let mut stack = Vec::new();
        for &r in &roots {
            let detached = nodes[r].orphan;
            walk(r, detached, &children, &mut visited, &mut stack, &mut rows);
        }

        // Whatever is left hangs off a parent cycle. Find a span on the cycle by walking up
        // from the earliest unvisited span, make the cycle's earliest span a root, draw from
        // there; repeat. Each walk only crosses spans the following draw visits: O(n) overall.
        let mut cycles = 0;
        let mut mark = vec![0u32; n];
        let mut generation = 0u32;
        for &i in &order {
            if visited[i] {
                continue;
            }
            generation += 1;
            let mut j = i;
            while mark[j] != generation {
                mark[j] = generation;
                match nodes[j].parent {
                    Some(p) if !visited[p] => j = p,
                    _ => break,
                }
            }
            let mut best = j;
            let mut k = j;
            for _ in 0..n {
                match nodes[k].parent {
                    Some(p) if p != j && !visited[p] => k = p,
                    _ => break,
                }
                if (nodes[k].start, k) < (nodes[best].start, best) {
                    best = k;
                }
            }
            cycles += 1;
            walk(best, true, &children, &mut visited, &mut stack, &mut rows);
        }

        let t0 = nodes.iter().map(|n| n.start).min().unwrap_or(0);
        let t1 = nodes.iter().map(|n| n.end).max().unwrap_or(0);
        let errors = nodes.iter().filter(|n| n.error).count();
        let mut trace_ids: Vec<&[u8]> = Vec::new();
        let mut seen = HashSet::new();
        let mut previous: &[u8] = &[];
        for node in &nodes {
            let id = node.span.trace_id.as_slice();
            if id != previous && !id.is_empty() && seen.insert(id) {
                trace_ids.push(id);
            }
            previous = id;
        }

        Tree {
            roots: roots.len() + cycles,
            nodes,
            rows,
            t0,
            t1,
            orphans,
            cycles,
            duplicate_ids,
            services: services.len(),
            errors,
            trace_ids,
        }
    }

    fn total(&self) -> u64 {
        self.t1 - self.t0
    }
}

/// Depth-first, iterative (a 50,000-deep chain must not overflow the stack); children in
/// start order; every span at most once.
fn walk(
    root: usize,
    detached: bool,
    children: &[Vec<usize>],
    visited: &mut [bool],
    stack: &mut Vec<(usize, usize, bool)>,
    rows: &mut Vec<Row>,
) {
    if visited[root] {
        return;
    }
    visited[root] = true;
    stack.push((root, 0, true));
    while let Some((node, depth, last)) = stack.pop() {
        rows.push(Row {
            node,
            depth,
            last,
            detached: depth == 0 && detached,
        });
        let mut last_child = true;
        for &c in children[node].iter().rev() {
            if !visited[c] {
                visited[c] = true;
                stack.push((c, depth + 1, last_child));
                last_child = false;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layout.

struct Layout {
    width: usize,
    /// Columns of the tree + service + name column.
    left: usize,
    /// Widest tree prefix drawn in full; deeper levels fold into `…`.
    indent_cap: usize,
    x_dur: usize,
    kind_w: usize,
    x_kind: usize,
    err_w: usize,
    x_err: usize,
    x_bar: usize,
    bar_w: usize,
}

impl Layout {
    fn new(tree: &Tree, rows: &[Row], width: usize) -> Self {
        let kind_w = rows
            .iter()
            .map(|r| kind_label(tree.nodes[r.node].span).len())
            .max()
            .unwrap_or(0);
        let err_w = if rows.iter().any(|r| tree.nodes[r.node].error) {
            1
        } else {
            0
        };
        let mut fixed = 1 + DUR_W + 1;
        if kind_w > 0 {
            fixed += kind_w + 1;
        }
        if err_w > 0 {
            fixed += err_w + 1;
        }
        let rest = width.saturating_sub(fixed);
        let need = rows
            .iter()
            .map(|r| {
                let node = &tree.nodes[r.node];
                prefix_width(r) + text_width(node.service) + 1 + text_width(&node.span.name)
            })
            .max()
            .unwrap_or(0);
        // The bar gets at least half of what the fixed columns leave.
        let left = need.min(rest.div_ceil(2));
        let x_dur = left + 1;
        let mut x = x_dur + DUR_W + 1;
        let x_kind = x;
        if kind_w > 0 {
            x += kind_w + 1;
        }
        let x_err = x;
        if err_w > 0 {
            x += err_w + 1;
        }
        Layout {
            width,
            left,
            indent_cap: left / 2,
            x_dur,
            kind_w,
            x_kind,
            err_w,
            x_err,
            x_bar: x,
            bar_w: width.saturating_sub(x),
        }
    }
}

fn prefix_width(row: &Row) -> usize {
    match row.depth {
        0 if row.detached => DETACHED_MARK.chars().count(),
        0 => 0,
        d => 2 * d + 1,
    }
}

fn kind_label(span: &Span) -> &'static str {
    match SpanKind::try_from(span.kind) {
        Ok(SpanKind::Server) => "[server]",
        Ok(SpanKind::Client) => "[client]",
        Ok(SpanKind::Producer) => "[producer]",
        Ok(SpanKind::Consumer) => "[consumer]",
        _ => "",
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing.

type Segment<'t> = Vec<(Cow<'t, str>, Style)>;

fn render_header(tree: &Tree, width: usize, color: bool, out: &mut String) {
    // What the trace is...
    let mut ident: Vec<Segment> = Vec::new();
    let id = match tree.trace_ids.first() {
        Some(id) => hex(id),
        None => "(no trace id)".to_string(),
    };
    let mut seg = vec![("trace ".into(), Style::Plain), (id.into(), Style::Bold)];
    if tree.trace_ids.len() > 1 {
        let others = tree.trace_ids.len() - 1;
        let text = format!(" (+{others} other trace {})", plural(others, "id", "ids"));
        seg.push((text.into(), Style::Red));
    }
    ident.push(seg);
    if let Some(row) = tree.rows.first() {
        let root = &tree.nodes[row.node];
        let svc = Style::Service(service_color(root.service));
        ident.push(vec![
            ("root ".into(), Style::Plain),
            (clean(root.service), svc),
            (" ".into(), Style::Plain),
            (clean(&root.span.name), Style::Bold),
        ]);
    }

    // ...and what it holds.
    let count = |n: usize, one: &str, many: &str| format!("{n} {}", plural(n, one, many));
    let mut stats: Vec<Segment> = vec![
        vec![(fmt_duration(tree.total()).into(), Style::Bold)],
        vec![(
            count(tree.nodes.len(), "span", "spans").into(),
            Style::Plain,
        )],
        vec![(
            count(tree.services, "service", "services").into(),
            Style::Plain,
        )],
    ];
    let err_style = if tree.errors > 0 {
        Style::Red
    } else {
        Style::Plain
    };
    stats.push(vec![(
        count(tree.errors, "error", "errors").into(),
        err_style,
    )]);
    let mut warn = |text: String| stats.push(vec![(text.into(), Style::Red)]);
    if tree.roots > 1 {
        warn(format!("{} roots (incomplete trace)", tree.roots));
    } else if tree.orphans > 0 {
        warn("root span missing (incomplete trace)".to_string());
    }
    if tree.cycles > 0 {
        warn(count(tree.cycles, "parent cycle", "parent cycles"));
    }
    if tree.duplicate_ids > 0 {
        warn(count(
            tree.duplicate_ids,
            "duplicate span id",
            "duplicate span ids",
        ));
    }

    // One line when it fits; otherwise the two groups on lines of their own, each packed on
    // as few lines as fit. Segments are separated by " · ".
    let seg_width = |seg: &Segment| seg.iter().map(|(t, _)| text_width(t)).sum::<usize>();
    let all: usize = ident.iter().chain(&stats).map(|s| seg_width(s) + 3).sum();
    let groups = if all.saturating_sub(3) <= width {
        vec![ident.into_iter().chain(stats).collect::<Vec<_>>()]
    } else {
        vec![ident, stats]
    };
    for group in groups {
        let mut line = Line::new(out, width, color);
        for (i, seg) in group.iter().enumerate() {
            if i > 0 {
                if line.used + 3 + seg_width(seg) <= width {
                    line.text(" · ", Style::Dim);
                } else {
                    line.newline();
                }
            }
            for (text, style) in seg {
                line.text(text, *style);
            }
        }
        line.finish();
    }
}

fn render_axis(tree: &Tree, layout: &Layout, color: bool, out: &mut String) {
    let mut line = Line::new(out, layout.width, color);
    let bar_w = layout.bar_w;
    if bar_w > 0 {
        let total = tree.total();
        let mut cells = vec![' '; bar_w];
        // Most important first; a label is dropped when it would touch another.
        let marks: [(u64, u64); 5] = [(0, 1), (1, 1), (1, 2), (1, 4), (3, 4)];
        for (num, den) in marks {
            if num > 0 && total == 0 {
                continue;
            }
            let label: Vec<char> = if num == 0 {
                vec!['0']
            } else {
                fmt_duration(mul_div(total, num, den)).chars().collect()
            };
            let len = label.len();
            if len > bar_w {
                continue;
            }
            let start = if num == den {
                bar_w - len
            } else {
                (bar_w * num as usize / den as usize)
                    .saturating_sub(len / 2)
                    .min(bar_w - len)
            };
            let lo = start.saturating_sub(1);
            let hi = (start + len + 1).min(bar_w);
            if cells[lo..hi].iter().all(|&c| c == ' ') {
                cells[start..start + len].copy_from_slice(&label);
            }
        }
        let text: String = cells.into_iter().collect();
        line.pad_to(layout.x_bar);
        line.text(text.trim_end(), Style::Dim);
    }
    line.finish();
}

fn render_rows(tree: &Tree, rows: &[Row], layout: &Layout, color: bool, out: &mut String) {
    let total = tree.total();
    // guides[l]: whether the ancestor at depth l + 1 has later siblings (draws "│ ").
    let mut guides: Vec<bool> = Vec::new();
    let mut prefix = String::new();
    for row in rows {
        let node = &tree.nodes[row.node];
        prefix.clear();
        if row.depth == 0 {
            guides.clear();
            if row.detached {
                prefix.push_str(DETACHED_MARK);
            }
        } else {
            guides.truncate(row.depth - 1);
            // Too deep to draw every level: the levels nearest the root keep their columns
            // (vertical guides stay straight), the deeper ones fold into an ellipsis.
            let folded = 2 * row.depth + 1 > layout.indent_cap;
            let drawn = if folded {
                (layout.indent_cap.saturating_sub(4) / 2).min(guides.len())
            } else {
                guides.len()
            };
            for &g in &guides[..drawn] {
                prefix.push_str(if g { "│ " } else { "  " });
            }
            if folded {
                prefix.push('…');
            }
            prefix.push_str(if row.last { "└─ " } else { "├─ " });
            guides.push(!row.last);
        }

        let mut line = Line::new(out, layout.width, color);
        let prefix_w = prefix.chars().count();
        line.text_of_width(&prefix, prefix_w, Style::Dim);

        // Service and name, shortened to the column; the name gives way first.
        let avail = layout.left.saturating_sub(prefix_w);
        let service = clean(node.service);
        let name = clean(&node.span.name);
        let (sw, nw) = (text_width(&service), text_width(&name));
        let svc_cols = if sw + 1 + nw <= avail {
            sw
        } else {
            sw.min((avail / 3).max(avail.saturating_sub(1 + nw)))
        };
        let name_cols = avail.saturating_sub(svc_cols + 1);
        let svc_color = service_color(node.service);
        line.text(&truncate(&service, svc_cols), Style::Service(svc_color));
        if name_cols > 0 {
            line.space();
            line.text(&truncate(&name, name_cols), Style::Plain);
        }

        let dur = fmt_duration(node.end - node.start);
        line.pad_to((layout.x_dur + DUR_W).saturating_sub(text_width(&dur)));
        line.text(&dur, Style::Plain);
        if layout.kind_w > 0 {
            line.pad_to(layout.x_kind);
            line.text(kind_label(node.span), Style::Dim);
        }
        if layout.err_w > 0 && node.error {
            line.pad_to(layout.x_err);
            line.text(ERROR_MARK, Style::Red);
        }
        if let Some((col, bar, bar_width)) = bar(
            node.start - tree.t0,
            node.end - node.start,
            total,
            layout.bar_w,
        ) {
            line.pad_to(layout.x_bar + col);
            let style = if node.error {
                Style::Red
            } else {
                Style::Service(svc_color)
            };
            line.text_of_width(&bar, bar_width, style);
        }
        line.finish();
    }
}

/// The bar of a span starting `offset` after the trace and lasting `len`, over `cols` columns
/// spanning `total`: its first column, its blocks and their width. Starts are rounded to a
/// column, ends to an eighth of one, and every span gets at least a `▏`.
fn bar(offset: u64, len: u64, total: u64, cols: usize) -> Option<(usize, String, usize)> {
    if cols == 0 {
        return None;
    }
    let b = cols as u128;
    let (start, end8) = if total == 0 {
        (0, 1)
    } else {
        let t = u128::from(total);
        let start = ((u128::from(offset) * b * 2 + t) / (2 * t)).min(b - 1);
        let end = u128::from(offset) + u128::from(len);
        let end8 = ((end * b * 16 + t) / (2 * t)).clamp(start * 8 + 1, b * 8);
        (start, end8)
    };
    let full = (end8 / 8 - start) as usize;
    let mut s = FULL_BLOCK.repeat(full);
    let mut width = full;
    if end8 % 8 > 0 {
        s.push(PARTIAL_BLOCKS[(end8 % 8) as usize]);
        width += 1;
    }
    Some((start as usize, s, width))
}

// ---------------------------------------------------------------------------------------------
// Lines, styles, text.

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Bold,
    Dim,
    Red,
    Service(u8),
}

impl Style {
    fn sgr(self) -> Option<Cow<'static, str>> {
        match self {
            Style::Plain => None,
            Style::Bold => Some("1".into()),
            Style::Dim => Some("2".into()),
            Style::Red => Some(format!("1;38;5;{RED}").into()),
            Style::Service(c) => Some(format!("38;5;{c}").into()),
        }
    }
}

/// The line being written at the end of `out`, never growing beyond `cap` columns. Spaces
/// are kept pending and only written when something follows them, so lines carry no trailing
/// blanks.
pub(crate) struct Line<'o> {
    out: &'o mut String,
    cap: usize,
    used: usize,
    pending: usize,
    color: bool,
}

impl<'o> Line<'o> {
    pub(crate) fn new(out: &'o mut String, cap: usize, color: bool) -> Self {
        Line {
            out,
            cap,
            used: 0,
            pending: 0,
            color,
        }
    }

    /// End this line and start the next.
    fn newline(&mut self) {
        self.out.push('\n');
        self.used = 0;
        self.pending = 0;
    }

    /// One space (written only if something follows).
    pub(crate) fn space(&mut self) {
        self.pending += 1;
    }

    /// Move to column `col` (no-op when already there or past it).
    pub(crate) fn pad_to(&mut self, col: usize) {
        if col > self.used + self.pending {
            self.pending = col - self.used;
        }
    }

    /// Append `text`; when it does not fit, as much as fits followed by `…`.
    pub(crate) fn text(&mut self, text: &str, style: Style) {
        self.text_of_width(text, text_width(text), style);
    }

    /// [`Line::text`] when the caller already knows the width of `text`.
    fn text_of_width(&mut self, text: &str, width: usize, style: Style) {
        if width == 0 || self.used + self.pending >= self.cap {
            return;
        }
        let room = self.cap - self.used - self.pending;
        let (text, width) = if width <= room {
            (Cow::Borrowed(text), width)
        } else {
            let short = truncate(text, room);
            let width = text_width(&short);
            (short, width)
        };
        if width == 0 {
            return;
        }
        while self.pending > 0 {
            let n = self.pending.min(SPACES.len());
            self.out.push_str(&SPACES[..n]);
            self.pending -= n;
            self.used += n;
        }
        let sgr = if self.color { style.sgr() } else { None };
        if let Some(code) = &sgr {
            self.out.push_str("\x1b[");
            self.out.push_str(code);
            self.out.push('m');
        }
        self.out.push_str(&text);
        if sgr.is_some() {
            self.out.push_str("\x1b[0m");
        }
        self.used += width;
    }

    pub(crate) fn finish(mut self) {
        self.newline();
    }
}

/// Terminal columns of one character: two for East Asian wide ones, one otherwise (control
/// characters never reach here; see [`clean`]).
fn char_width(c: char) -> usize {
    match u32::from(c) {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

pub(crate) fn text_width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char_width).sum()
    }
}

/// `s` shortened to at most `max` columns, ending in `…` when shortened.
pub(crate) fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if text_width(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    Cow::Owned(out)
}

/// Control characters (newlines, tabs, escapes) replaced, so text cannot break the layout or
/// drive the terminal.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                c if c.is_whitespace() => ' ',
                c if c.is_control() => '�',
                c => c,
            })
            .collect(),
    )
}

/// A stable colour per service (FNV-1a of its name).
pub(crate) fn service_color(service: &str) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for b in service.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    PALETTE[h as usize % PALETTE.len()]
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 { one } else { many }
}

/// `value * num / den` without overflow (`num <= den`).
fn mul_div(value: u64, num: u64, den: u64) -> u64 {
    (u128::from(value) * u128::from(num) / u128::from(den.max(1))) as u64
}

/// A duration in human units, three significant digits: `999ns`, `8.50µs`, `850µs`,
/// `12.3ms`, `1.24s`, then `2m03s`, `1h02m`, `3d04h`.
pub(crate) fn fmt_duration(ns: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000, "µs"), (1_000_000, "ms"), (1_000_000_000, "s")];
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    for (scale, unit) in UNITS {
        let v = ns as f64 / scale as f64;
        let text = if v < 9.995 {
            format!("{v:.2}{unit}")
        } else if v < 99.95 {
            format!("{v:.1}{unit}")
        } else if v < 999.5 {
            format!("{v:.0}{unit}")
        } else {
            continue;
        };
        if unit != "s" || v < 59.5 {
            return text;
        }
        break;
    }
    let secs = ns / 1_000_000_000 + u64::from(ns % 1_000_000_000 >= 500_000_000);
    if secs < 3_600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        let mins = (secs + 30) / 60;
        if mins < 24 * 60 {
            format!("{}h{:02}m", mins / 60, mins % 60)
        } else {
            "1d00h".to_string()
        }
    } else {
        let hours = (secs + 1_800) / 3_600;
        format!("{}d{:02}h", hours / 24, hours % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_model::otlp::{Resource, ScopeSpans, Status, kv_str};
    use std::time::{Duration, Instant};

    const T0: u64 = 1_700_000_000_000_000_000;
    const MS: u64 = 1_000_000;

    fn trace_id() -> Vec<u8> {
        hex_bytes("4bf92f3577b34da6a3ce929d0e0e4736")
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn sid(n: u64) -> Vec<u8> {
        n.to_be_bytes().to_vec()
    }

    struct S {
        id: u64,
        parent: u64,
        name: &'static str,
        kind: SpanKind,
        start: u64,
        end: u64,
        error: bool,
    }

    fn span(s: &S) -> Span {
        Span {
            trace_id: trace_id(),
            span_id: if s.id == 0 { Vec::new() } else { sid(s.id) },
            parent_span_id: if s.parent == 0 {
                Vec::new()
            } else {
                sid(s.parent)
            },
            name: s.name.to_string(),
            kind: s.kind as i32,
            start_time_unix_nano: s.start,
            end_time_unix_nano: s.end,
            status: s.error.then(|| Status {
                message: "boom".into(),
                code: StatusCode::Error as i32,
            }),
            ..Default::default()
        }
    }

    fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn s(
        id: u64,
        parent: u64,
        name: &'static str,
        kind: SpanKind,
        start_us: u64,
        end_us: u64,
    ) -> S {
        S {
            id,
            parent,
            name,
            kind,
            start: T0 + start_us * 1_000,
            end: T0 + end_us * 1_000,
            error: false,
        }
    }

    /// Six spans over three services, in scrambled input order.
    fn checkout() -> Vec<ResourceSpans> {
        use SpanKind::*;
        let mut charge_client = s(5, 1, "payment.Charge", Client, 140_000, 1_200_000);
        charge_client.error = true;
        let mut charge = s(6, 5, "Charge", Server, 150_000, 1_190_000);
        charge.error = true;
        vec![
            resource("payment", vec![span(&charge)]),
            resource(
                "frontend",
                vec![
                    span(&charge_client),
                    span(&s(1, 0, "GET /checkout", Server, 0, 1_240_000)),
                    span(&s(2, 1, "cart.GetCart", Client, 10_000, 130_000)),
                ],
            ),
            resource(
                "cart",
                vec![
                    span(&s(3, 2, "GetCart", Server, 15_000, 125_000)),
                    span(&s(4, 3, "redis HGETALL", Client, 20_000, 20_850)),
                ],
            ),
        ]
    }

    fn plain(width: usize) -> RenderOptions {
        RenderOptions {
            width,
            color: false,
            max_spans: None,
        }
    }

    /// The span lines' tree + service + name column (what precedes the duration).
    fn left_column(out: &str) -> Vec<&str> {
        out.lines()
            .skip_while(|l| !l.trim_start().starts_with('0'))
            .skip(1)
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                let end = l[indent..].find("  ").map_or(l.len(), |e| indent + e);
                &l[..end]
            })
            .collect()
    }

    fn assert_fits(out: &str, width: usize) {
        for line in out.lines() {
            let w = line.chars().count();
            assert!(w <= width, "line of {w} columns > {width}: {line:?}");
            assert!(
                !line.contains('\x1b'),
                "escape code with color off: {line:?}"
            );
        }
    }

    #[test]
    fn snapshot_100_columns() {
        let out = render(&checkout(), &plain(100));
        let expected = [
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 · root frontend GET /checkout",
            "1.24s · 6 spans · 3 services · 2 errors",
            "                                              0          310ms         620ms        930ms      1.24s",
            "frontend GET /checkout       1.24s [server]   ██████████████████████████████████████████████████████",
            "├─ frontend cart.GetCart     120ms [client]   █████▋",
            "│ └─ cart GetCart            110ms [server]    ████▌",
            "│   └─ cart redis HGETALL    850µs [client]    ▏",
            "└─ frontend payment.Charge   1.06s [client] ✗       ██████████████████████████████████████████████▎",
            "  └─ payment Charge          1.04s [server] ✗        ████████████████████████████████████████████▉",
        ];
        assert_eq!(out, expected.join("\n") + "\n", "\n{out}");
        assert_fits(&out, 100);
    }

    #[test]
    fn snapshot_80_columns() {
        let out = render(&checkout(), &plain(80));
        let expected = [
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 · root frontend GET /checkout",
            "1.24s · 6 spans · 3 services · 2 errors",
            "                                              0     310ms    620ms   930ms 1.24s",
            "frontend GET /checkout       1.24s [server]   ██████████████████████████████████",
            "├─ frontend cart.GetCart     120ms [client]   ███▋",
            "│ └─ cart GetCart            110ms [server]   ███▍",
            "│   └─ cart redis HGETALL    850µs [client]    ▏",
            "└─ frontend payment.Charge   1.06s [client] ✗     ████████████████████████████▉",
            "  └─ payment Charge          1.04s [server] ✗     ████████████████████████████▋",
        ];
        assert_eq!(out, expected.join("\n") + "\n", "\n{out}");
        assert_fits(&out, 80);
    }

    #[test]
    fn durations_in_human_units() {
        let cases = [
            (0, "0ns"),
            (999, "999ns"),
            (1_000, "1.00µs"),
            (8_500, "8.50µs"),
            (850_000, "850µs"),
            (999_400, "999µs"),
            (999_600, "1.00ms"),
            (12_340_000, "12.3ms"),
            (1_240_000_000, "1.24s"),
            (59_400_000_000, "59.4s"),
            (59_800_000_000, "1m00s"),
            (123_000_000_000, "2m03s"),
            (3_720_000_000_000, "1h02m"),
            (86_399_000_000_000, "1d00h"),
            (273_600_000_000_000, "3d04h"),
            (u64::MAX, "213504d00h"),
        ];
        for (ns, want) in cases {
            assert_eq!(fmt_duration(ns), want, "{ns}ns");
        }
    }

    #[test]
    fn orphans_become_extra_roots() {
        use SpanKind::*;
        // Span 1 (the real root) is missing; 2 and 3 reference it, 4 references nothing known.
        let rs = vec![resource(
            "api",
            vec![
                span(&s(3, 1, "late orphan", Internal, 500, 900)),
                span(&s(2, 1, "early orphan", Server, 100, 800)),
                span(&s(5, 2, "child of early", Client, 200, 300)),
                span(&s(4, 99, "other orphan", Internal, 300, 400)),
            ],
        )];
        let out = render(&rs, &plain(100));
        assert!(out.contains("3 roots (incomplete trace)"), "{out}");
        assert_eq!(
            left_column(&out),
            [
                "┄ api early orphan",
                "└─ api child of early",
                "┄ api other orphan",
                "┄ api late orphan",
            ],
            "{out}"
        );

        // A single orphan root: the real root is missing.
        let rs = vec![resource(
            "api",
            vec![span(&s(2, 1, "only", Server, 100, 800))],
        )];
        let out = render(&rs, &plain(100));
        assert!(
            out.contains("root span missing (incomplete trace)"),
            "{out}"
        );
    }

    #[test]
    fn errors_are_marked() {
        let out = render(&checkout(), &plain(120));
        assert!(out.contains("2 errors"), "{out}");
        let marked: Vec<&str> = out.lines().filter(|l| l.contains(ERROR_MARK)).collect();
        assert_eq!(marked.len(), 2, "{out}");
        assert!(marked[0].contains("payment.Charge") && marked[1].contains("Charge"));

        let colored = render(
            &checkout(),
            &RenderOptions {
                color: true,
                ..plain(120)
            },
        );
        let red = format!("\x1b[1;38;5;{RED}m");
        let charge = colored
            .lines()
            .find(|l| l.contains("payment.Charge"))
            .unwrap();
        assert!(
            charge.contains(&format!("{red}{ERROR_MARK}\x1b[0m")),
            "{charge:?}"
        );
        assert!(charge.contains(&format!("{red}{FULL_BLOCK}")), "{charge:?}");
        let ok = colored.lines().find(|l| l.contains("GetCart")).unwrap();
        assert!(!ok.contains(&red), "{ok:?}");
        // Same service, same colour; the escape codes do not change the text.
        let strip = strip_ansi(&colored);
        assert_eq!(strip, render(&checkout(), &plain(120)));
    }

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn cycles_and_duplicates_are_safe() {
        use SpanKind::*;
        let rs = vec![resource(
            "loop",
            vec![
                // 1 → 2 → 3 → 1, with 4 hanging off the cycle.
                span(&s(1, 3, "a", Internal, 100, 200)),
                span(&s(2, 1, "b", Internal, 110, 190)),
                span(&s(3, 2, "c", Internal, 120, 180)),
                span(&s(4, 2, "d", Internal, 50, 60)),
                // Its own parent.
                span(&s(5, 5, "self", Internal, 10, 20)),
                // Two spans with the same ID; the second one's parent is that ID.
                span(&s(6, 0, "dup first", Internal, 0, 1_000)),
                span(&s(6, 6, "dup second", Internal, 5, 15)),
                span(&s(7, 6, "child of dup", Internal, 7, 8)),
                // Empty span IDs, as root and as child; empty parent ID means root.
                span(&s(0, 0, "no id root", Internal, 1, 2)),
                span(&s(0, 6, "no id child", Internal, 3, 4)),
            ],
        )];
        let out = render(&rs, &plain(100));
        for name in [
            "a",
            "b",
            "c",
            "d",
            "self",
            "dup first",
            "dup second",
            "child of dup",
            "no id root",
            "no id child",
        ] {
            let n = left_column(&out)
                .iter()
                .filter(|l| l.ends_with(&format!("loop {name}")))
                .count();
            assert_eq!(n, 1, "{name} drawn {n} times:\n{out}");
        }
        assert!(out.contains("1 parent cycle"), "{out}");
        assert!(out.contains("1 duplicate span id"), "{out}");
        assert_fits(&out, 100);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        use SpanKind::*;
        let out = render(&[], &plain(80));
        assert_eq!(out, "trace has no spans\n");
        assert_eq!(render(&[], &plain(0)), "\n");

        // Zero-duration trace, end before start, zero timestamps, no resource, weird names.
        let mut weird = span(&s(1, 0, "tab\tnew\nline \x1b[31mred", Internal, 10, 10));
        weird.kind = 42;
        let mut backwards = span(&s(2, 1, "backwards", Client, 10, 10));
        backwards.end_time_unix_nano = 0;
        let rs = vec![
            resource("z", vec![weird, backwards]),
            ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(&s(
                        3,
                        1,
                        "宽字符名字很长很长很长很长很长很长很长很长",
                        Server,
                        10,
                        10,
                    ))],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ];
        for width in [0, 1, 2, 5, 10, 20, 40, 80, 200, usize::MAX] {
            let out = render(&rs, &plain(width));
            assert_fits(&out, width);
            assert!(width < 40 || out.contains("0ns"), "{out}");
        }
        let out = render(&rs, &plain(200));
        assert!(out.contains("unknown_service"), "{out}");
        assert!(out.contains("tab new line �[31mred"), "{out}");
        assert!(out.lines().count() >= 5, "{out}");
    }

    #[test]
    fn max_spans_limits_lines() {
        let out = render(
            &checkout(),
            &RenderOptions {
                max_spans: Some(2),
                ..plain(100)
            },
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[lines.len() - 3].contains("GET /checkout"), "{out}");
        assert!(lines[lines.len() - 2].contains("cart.GetCart"), "{out}");
        assert_eq!(lines[lines.len() - 1], "… 4 more spans not shown (2 of 6)");
        let out = render(
            &checkout(),
            &RenderOptions {
                max_spans: Some(0),
                ..plain(100)
            },
        );
        assert!(
            out.ends_with("… 6 more spans not shown (0 of 6)\n"),
            "{out}"
        );
    }

    #[test]
    fn width_is_respected() {
        let mut long = checkout();
        long[0].scope_spans[0].spans[0].name = "x".repeat(500);
        long[1].resource = Some(Resource {
            attributes: vec![kv_str("service.name", &"s".repeat(300))],
            ..Default::default()
        });
        for width in 0..=240 {
            assert_fits(&render(&checkout(), &plain(width)), width);
            assert_fits(&render(&long, &plain(width)), width);
            let colored = render(
                &long,
                &RenderOptions {
                    color: true,
                    ..plain(width)
                },
            );
            assert_fits(&strip_ansi(&colored), width);
        }
        // Wide terminals are used: bars get the space the names do not need.
        let out = render(&checkout(), &plain(200));
        let root = out
            .lines()
            .find(|l| l.starts_with("frontend GET /checkout"))
            .unwrap();
        assert_eq!(root.chars().count(), 200, "{out}");
    }

    /// A pseudo-random 50,000-span trace: 20 services, a wide random tree, some orphans.
    fn big_trace(n: u64, chain: bool) -> Vec<ResourceSpans> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut by_service: Vec<Vec<Span>> = (0..20).map(|_| Vec::new()).collect();
        for id in 1..=n {
            let parent = match id {
                1 => 0,
                _ if chain => id - 1,
                _ if rnd() % 100 == 0 => n + 1 + id, // missing parent
                _ => 1 + rnd() % (id - 1),
            };
            let start = T0 + (rnd() % 60_000) * MS;
            let mut sp = span(&S {
                id,
                parent,
                name: "operation with a fairly long name",
                kind: SpanKind::Server,
                start,
                end: start + rnd() % (5_000 * MS),
                error: rnd() % 50 == 0,
            });
            sp.attributes.push(kv_str("k", "v"));
            by_service[(rnd() % 20) as usize].push(sp);
        }
        by_service
            .into_iter()
            .enumerate()
            .map(|(i, spans)| resource(&format!("service-{i}"), spans))
            .collect()
    }

    #[test]
    fn fifty_thousand_spans_render_fast() {
        for chain in [false, true] {
            let trace = big_trace(50_000, chain);
            for color in [false, true] {
                let opts = RenderOptions {
                    width: 160,
                    color,
                    max_spans: None,
                };
                let started = Instant::now();
                let out = render(&trace, &opts);
                let took = started.elapsed();
                eprintln!("50,000 spans, chain={chain}, color={color}: {took:?}");
                // A guard against quadratic work, not a benchmark: linear rendering takes
                // ~0.1 s in release and ~0.4 s in a debug build; a quadratic walk over
                // 50,000 spans takes minutes. The bound leaves room for a loaded machine.
                assert!(
                    took < Duration::from_secs(10),
                    "chain={chain} color={color}: {took:?}"
                );
                assert!(out.lines().count() >= 50_002);
                if !color {
                    assert_fits(&out, 160);
                }
            }
        }
    }
}
