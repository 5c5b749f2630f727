/**
 * Re-rendering a list must not throw a keyboard user's focus away: the focused control's
 * data-key is remembered and the control with the same key gets the focus back.
 */
export function keepFocus(container: HTMLElement, render: () => void): void {
  const active = document.activeElement as HTMLElement | null;
  const key = active && container.contains(active) ? active.dataset.key : undefined;
  render();
  if (!key) return;
  const next = container.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`) ?? container.querySelector<HTMLElement>('button, input');
  next?.focus();
  // A redrawn text field gets its caret back at the end, where the user was typing.
  if (next instanceof HTMLInputElement && next.type !== 'number') next.setSelectionRange(next.value.length, next.value.length);
}
