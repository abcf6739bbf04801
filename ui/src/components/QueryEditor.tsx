// The TraceQL editor: a textarea over a highlighted copy of its text, with autocompletion
// of scopes, intrinsics, tag names and values (from the tags APIs).

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { INTRINSICS, SCOPES, completionAt, literal, tokenize, type Completion } from '../lib/traceql';
import { namesOf, valuesOf } from '../lib/tags';

interface Suggestion {
  label: string;
  insert: string;
  detail: string;
}

export function QueryEditor({
  value,
  onChange,
  onRun,
  testid = 'traceql-input',
  label = 'TraceQL query',
}: {
  value: string;
  onChange: (v: string) => void;
  onRun: (v: string) => void;
  testid?: string;
  label?: string;
}) {
  const ta = useRef<HTMLTextAreaElement>(null);
  const pre = useRef<HTMLPreElement>(null);
  const [caret, setCaret] = useState(value.length);
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<Suggestion[]>([]);
  const [active, setActive] = useState(0);
  const [ctx, setCtx] = useState<Completion>({ type: 'none' });
  const tokens = useMemo(() => tokenize(value), [value]);

  // Suggestions for the caret's context.
  useEffect(() => {
    if (!open) return;
    const c = completionAt(value, caret);
    setCtx(c);
    let cancelled = false;
    suggestions(c).then(
      (s) => {
        if (cancelled) return;
        setItems(s.slice(0, 200));
        setActive(0);
      },
      () => !cancelled && setItems([]),
    );
    return () => {
      cancelled = true;
    };
  }, [value, caret, open]);

  const accept = (s: Suggestion) => {
    if (ctx.type === 'none') return;
    const next = value.slice(0, ctx.from) + s.insert + value.slice(ctx.to);
    const pos = ctx.from + s.insert.length;
    onChange(next);
    setCaret(pos);
    // Keep completing after a scope (`resource.` → its tag names).
    setOpen(s.insert.endsWith('.'));
    requestAnimationFrame(() => {
      const el = ta.current;
      if (!el) return;
      el.focus();
      // Only if nothing was typed since: a key pressed in this frame already put the caret
      // after itself, and moving it back would insert the next keys before it.
      if (el.value === next) el.setSelectionRange(pos, pos);
    });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const shown = open && items.length > 0;
    if (shown && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length);
    } else if (shown && (e.key === 'Tab' || (e.key === 'Enter' && !e.ctrlKey && !e.metaKey))) {
      e.preventDefault();
      accept(items[active]!);
    } else if (e.key === 'Escape') {
      setOpen(false);
    } else if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      setOpen(false);
      onRun(value);
    } else if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      setOpen(true);
    }
  };

  const sync = () => {
    if (ta.current && pre.current) {
      pre.current.scrollTop = ta.current.scrollTop;
      pre.current.scrollLeft = ta.current.scrollLeft;
    }
  };

  return (
    <div class="editor">
      <pre ref={pre} class="editor-hl" aria-hidden="true">
        {tokens.map((t) => (
          <span class={`tok-${t.kind}`}>{t.text}</span>
        ))}
        {'\n'}
      </pre>
      <textarea
        ref={ta}
        class="editor-input"
        aria-label={label}
        data-testid={testid}
        spellcheck={false}
        autocomplete="off"
        rows={2}
        value={value}
        placeholder='{ resource.service.name = "checkout" && status = error }'
        onInput={(e) => {
          onChange(e.currentTarget.value);
          setCaret(e.currentTarget.selectionStart);
          setOpen(true);
        }}
        onKeyDown={onKeyDown}
        onKeyUp={(e) => {
          if (e.key === 'ArrowLeft' || e.key === 'ArrowRight' || e.key === 'Home' || e.key === 'End') setCaret(e.currentTarget.selectionStart);
        }}
        onClick={(e) => {
          setCaret(e.currentTarget.selectionStart);
          setOpen(true);
        }}
        onScroll={sync}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      {open && items.length > 0 && (
        <ul class="completions" role="listbox" data-testid="completions">
          {items.map((s, i) => (
            <li
              role="option"
              aria-selected={i === active}
              class={i === active ? 'active' : ''}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(s);
              }}
              onMouseEnter={() => setActive(i)}
            >
              <span class="completion-label">{s.label}</span>
              <span class="completion-detail">{s.detail}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

async function suggestions(c: Completion): Promise<Suggestion[]> {
  const match = (label: string, prefix: string) => label.toLowerCase().includes(prefix.toLowerCase());
  switch (c.type) {
    case 'field': {
      const scopes = SCOPES.map((s) => ({ label: s, insert: s, detail: s === '.' ? 'span or resource attribute' : 'scope' }));
      const intr = INTRINSICS.map((i) => ({ label: i, insert: i, detail: 'intrinsic' }));
      return [...scopes, ...intr].filter((s) => c.prefix === '' || s.label.startsWith(c.prefix));
    }
    case 'tag': {
      const names = await namesOf(c.scope);
      const quote = (n: string) => (/^[\w.:-]+$/.test(n) ? n : `"${n.replace(/"/g, '\\"')}"`);
      return names
        .filter((n) => match(n, c.prefix))
        .map((n) => ({ label: `${c.scope}${n}`, insert: `${c.scope}${quote(n)}`, detail: c.scope === '.' ? 'attribute' : `${c.scope.slice(0, -1)} attribute` }));
    }
    case 'value': {
      const values = await valuesOf(c.tag);
      return values
        .filter((v) => match(v.value, c.prefix))
        .map((v) => ({ label: v.value, insert: literal(v.value, v.type), detail: v.type }));
    }
    default:
      return [];
  }
}
