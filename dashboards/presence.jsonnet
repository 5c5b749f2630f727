// parley presence & typing: chatter next to messages (their share of all traffic), what coalescing
// and throttling save, and what reaches observers.
local dashboard = import 'lib/dashboard.libsonnet';
local p = import 'lib/panels.libsonnet';
local q = import 'lib/queries.libsonnet';

dashboard.new('presence', 'parley / presence & typing', 'Presence and typing traffic of parley nodes, next to messages, and what coalescing saves.', [
  p.stat('Chatter per message', '(' + q.rate('parley_frames_in_total', 'op=~"presence|typing"') + ') / ' + q.rate('parley_messages_stored_total'), 'short', 'Typing and presence frames in per stored message.', threshold=q.threshold('ParleyChatterToMessageRatioHigh')),
  p.stat('Presence share of frames in', q.rate('parley_frames_in_total', 'op="presence"') + ' / ' + q.rate('parley_frames_in_total'), 'percentunit'),
  p.stat('Typing share of frames in', q.rate('parley_frames_in_total', 'op="typing"') + ' / ' + q.rate('parley_frames_in_total'), 'percentunit'),
  p.stat('Presence changes suppressed', q.rate('parley_presence_updates_total', 'outcome="suppressed"') + ' / ' + q.rate('parley_presence_updates_total'), 'percentunit', 'Share of presence changes that were no net change (a reconnect within the grace period).'),

  p.row('Traffic'),
  p.timeseries('Presence and typing next to messages', [
    [q.rate('parley_frames_in_total', 'op="presence"'), 'presence in'],
    [q.rate('parley_frames_in_total', 'op="typing"'), 'typing in'],
    [q.rate('parley_messages_stored_total'), 'messages'],
  ], 'reqps'),
  p.timeseries('Presence fan-out per change', [
    [q.rate('parley_presence_items_total') + ' / ' + q.rate('parley_presence_updates_total', 'outcome="published"'), 'entries pushed per published change'],
    [q.rate('parley_presence_frames_total', by=['kind']) , 'frames {{kind}}/s'],
  ], 'short'),

  p.row('Coalescing and throttling'),
  p.timeseries('Presence changes: published vs suppressed', [[q.rate('parley_presence_updates_total', by=['outcome']), '{{outcome}}']], 'reqps', stack=true),
  p.timeseries('Typing outcomes', [[q.rate('parley_typing_events_total', by=['outcome']), '{{outcome}}']], 'reqps', stack=true),
  p.timeseries('Presence frames out vs entries carried', [
    [q.rate('parley_presence_frames_total', 'kind="batch"'), 'batch frames'],
    [q.rate('parley_presence_items_total'), 'entries'],
  ], 'reqps'),
  p.timeseries('Typing and presence frames out', [[q.rate('parley_frames_out_total', 'op=~"presence|typing"', by=['op']), '{{op}}']], 'reqps'),
  p.timeseries('Remote users shown offline because their node went silent', [[q.rate('parley_presence_expired_total', by=['instance']), '{{instance}}']], 'reqps'),
])
