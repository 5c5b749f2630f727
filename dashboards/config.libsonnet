// Knobs for every parley dashboard, in one place.
{
  datasource: 'prometheus',
  // Selector every query carries, so one Grafana serves several deployments.
  selector: 'job=~"$job", instance=~"$instance"',
  rateWindow: '$__rate_interval',
  refresh: '30s',
  timeFrom: 'now-6h',
  tags: ['parley'],
  uidPrefix: 'parley-',
}
