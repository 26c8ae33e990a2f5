#!/usr/bin/env node
// Generates the Grafana dashboards of docker_exporter (dashboards/*.json) from
// one description per dashboard, so every panel gets the same datasource
// variable, template variables, units, descriptions and grid layout.
//
//   node dashboards/generate.mjs          rewrite dashboards/*.json
//   node dashboards/generate.mjs --check  exit 1 if a committed file differs
//   node dashboards/generate.mjs --panels-md  print the panel tables of README.md
//
// The JSON files are the product (import them by hand or provision them);
// this script only keeps them consistent. No dependencies.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DS = { type: 'prometheus', uid: '${datasource}' };
const DETAIL_UID = 'docker-exporter-container';

// Label filters of the template variables, inserted into every selector.
const HOST = 'job=~"$job", instance=~"$instance"';
const CONT = `${HOST}, name=~"$name"`;

// ---- variables -------------------------------------------------------------

function queryVar(name, label, query, description) {
  return {
    name,
    label,
    description,
    type: 'query',
    datasource: DS,
    query: { qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    regex: '',
    sort: 1,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    hide: 0,
  };
}

function templating() {
  return {
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        description: 'The Prometheus that scrapes docker_exporter',
        type: 'datasource',
        query: 'prometheus',
        regex: '',
        options: [],
        refresh: 1,
        hide: 0,
        multi: false,
        includeAll: false,
      },
      queryVar('job', 'job', 'label_values(docker_up, job)', 'Scrape job(s) of docker_exporter'),
      queryVar('instance', 'instance', 'label_values(docker_up{job=~"$job"}, instance)', 'Host(s): the docker_exporter targets'),
      queryVar('name', 'container', 'label_values(docker_container_info{job=~"$job", instance=~"$instance"}, name)', 'Container name(s)'),
    ],
  };
}

// ---- panels ----------------------------------------------------------------

const refIds = 'ABCDEFGHIJ';

/** A range (time series) target. */
function q(expr, legendFormat) {
  return { expr, legendFormat, range: true, instant: false, editorMode: 'code' };
}

/** An instant target shown as a table. */
function tq(expr) {
  return { expr, format: 'table', range: false, instant: true, editorMode: 'code' };
}

function fieldConfig(unit, extra = {}) {
  const { custom = {}, mappings = [], min, max, thresholds, overrides = [], decimals } = extra;
  const defaults = {
    unit,
    custom,
    mappings,
    color: { mode: extra.colorMode ?? 'palette-classic' },
    thresholds: thresholds ?? { mode: 'absolute', steps: [{ color: 'green', value: null }] },
  };
  if (min !== undefined) defaults.min = min;
  if (max !== undefined) defaults.max = max;
  if (decimals !== undefined) defaults.decimals = decimals;
  return { defaults, overrides };
}

function panel(type, title, description, unit, targets, size, extra = {}) {
  return {
    type,
    title,
    description,
    datasource: DS,
    targets: targets.map((t, i) => ({ datasource: DS, refId: refIds[i], ...t })),
    fieldConfig: fieldConfig(unit, extra),
    options: extra.options ?? {},
    transformations: extra.transformations,
    size,
  };
}

const legend = { showLegend: true, displayMode: 'table', placement: 'right', calcs: ['lastNotNull', 'max'] };
const tooltip = { mode: 'multi', sort: 'desc' };

function timeseries(title, description, unit, targets, size, extra = {}) {
  return panel('timeseries', title, description, unit, targets, size, {
    ...extra,
    custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false, ...(extra.custom ?? {}) },
    options: { legend, tooltip, ...(extra.options ?? {}) },
  });
}

function stat(title, description, unit, targets, size, extra = {}) {
  return panel('stat', title, description, unit, targets, size, {
    ...extra,
    colorMode: extra.colorMode ?? 'thresholds',
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'none',
      textMode: 'auto',
      justifyMode: 'auto',
      orientation: 'auto',
      percentChangeColorMode: 'standard',
      showPercentChange: false,
      wideLayout: true,
      ...(extra.options ?? {}),
    },
  });
}

/** The link from a table's `name` column to the container detail dashboard. */
const detailLink = {
  matcher: { id: 'byName', options: 'name' },
  properties: [
    {
      id: 'links',
      value: [
        {
          title: 'Container detail',
          url: `/d/${DETAIL_UID}/docker-container-detail?\${datasource:queryparam}&var-job=\${__data.fields.job}&var-instance=\${__data.fields.instance}&var-name=\${__data.fields.name}&\${__url_time_range}`,
        },
      ],
    },
  ],
};

function table(title, description, unit, expr, size, valueName) {
  return panel('table', title, description, unit, [tq(expr)], size, {
    colorMode: 'thresholds',
    overrides: [detailLink],
    custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false },
    options: { showHeader: true, cellHeight: 'sm', frameIndex: 0, sortBy: [{ displayName: 'name', desc: false }] },
    transformations: [
      {
        id: 'organize',
        options: {
          excludeByName: { Time: true },
          indexByName: { name: 0, instance: 1, job: 2, Value: 3 },
          renameByName: { Value: valueName },
        },
      },
    ],
  });
}

/** Value mappings 1..n → the given texts (for a state encoded as a number). */
function stateMappings(states) {
  const options = {};
  states.forEach(([text, color], i) => {
    options[String(i + 1)] = { text, color, index: i };
  });
  return [{ type: 'value', options }];
}

function stateTimeline(title, description, expr, legendFormat, states, size) {
  return panel('state-timeline', title, description, 'none', [q(expr, legendFormat)], size, {
    colorMode: 'fixed',
    mappings: stateMappings(states),
    custom: { fillOpacity: 80, lineWidth: 0 },
    options: { mergeValues: true, showValue: 'auto', alignValue: 'left', rowHeight: 0.9, legend: { showLegend: true, displayMode: 'list', placement: 'bottom', calcs: [] }, tooltip },
  });
}

/**
 * A stateset as one number per container: the position (1-based) of the state
 * whose series is 1, so a state timeline can draw it with value mappings.
 */
function encodeStateset(family, label, states, filter) {
  const parts = states.map(([s], i) => `${family}{${filter}, ${label}="${s}"} * ${i + 1}`);
  return `max by (job, instance, name) (\n  (${parts.join('\n  or ')}) > 0\n)`;
}

const CONTAINER_STATES = [
  ['created', 'blue'],
  ['running', 'green'],
  ['paused', 'purple'],
  ['restarting', 'orange'],
  ['removing', 'yellow'],
  ['exited', 'red'],
  ['dead', 'dark-red'],
];
const HEALTH_STATES = [
  ['none', 'text'],
  ['starting', 'blue'],
  ['healthy', 'green'],
  ['unhealthy', 'red'],
];

// ---- layout ----------------------------------------------------------------

/**
 * A collapsed row holding `panels`. Grafana runs a collapsed row's queries only
 * when it is opened; classic dashboards cannot hide a row whose series are
 * absent (a row repeated over an empty variable is still drawn once), so a row
 * that only some hosts fill is collapsed instead.
 */
function row(title, panels) {
  return { row: true, title, panels };
}

/** Places panels left to right in rows of 24 columns; ids in order. A
 * collapsed row starts a new line; its panels sit below it and take no room. */
function layout(entries) {
  let id = 0;
  let x = 0;
  let y = 0;
  let rowH = 0;
  const place = (p) => {
    const [w, h] = p.size;
    if (x + w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const { size, transformations, ...rest } = p;
    const out = { id: ++id, gridPos: { h, w, x, y }, ...rest };
    if (transformations) out.transformations = transformations;
    x += w;
    rowH = Math.max(rowH, h);
    return out;
  };
  const out = [];
  for (const e of entries) {
    if (!e.row) {
      out.push(place(e));
      continue;
    }
    y += rowH;
    x = 0;
    rowH = 0;
    const r = { id: ++id, type: 'row', title: e.title, collapsed: true, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] };
    y += 1;
    const below = y;
    r.panels = e.panels.map(place);
    y = below;
    x = 0;
    rowH = 0;
    out.push(r);
  }
  return out;
}

/** Every panel that queries: the top-level ones and those inside rows. */
function queryPanels(panels) {
  return panels.flatMap((p) => (p.type === 'row' ? p.panels : [p]));
}

function dashboard({ uid, title, description, tags, panels, links = [] }) {
  return {
    uid,
    title,
    description,
    tags: ['docker', 'docker_exporter', ...tags],
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    weekStart: '',
    links: [
      {
        title: 'docker_exporter dashboards',
        type: 'dashboards',
        tags: ['docker_exporter'],
        asDropdown: true,
        icon: 'external link',
        includeVars: true,
        keepTime: true,
        targetBlank: false,
        tooltip: '',
        url: '',
      },
      ...links,
    ],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    templating: templating(),
    panels: layout(panels),
  };
}

// ---- 1. host overview ------------------------------------------------------

const overview = dashboard({
  uid: 'docker-exporter-overview',
  title: 'Docker / Host overview',
  description: 'Containers of each Docker host: states, problems, top consumers, network and block IO, events (docker_exporter).',
  tags: ['overview'],
  panels: [
    stat('Engine version', 'Docker Engine version and negotiated API version of each host (docker_engine_info).', 'none',
      [q(`docker_engine_info{${HOST}}`, '{{instance}}: Engine {{version}}, API {{api_version}}, cgroup v{{cgroup_version}}')],
      [6, 4], { options: { textMode: 'name', colorMode: 'none' } }),
    stat('Engine up', 'Hosts whose Docker engine answered the last call of docker_exporter (docker_up) over all selected hosts.', 'none',
      [q(`sum(docker_up{${HOST}})`, 'up'), q(`count(docker_up{${HOST}})`, 'hosts')],
      [3, 4]),
    stat('Containers (engine count)', 'Containers per state as the engine counts them in GET /info (docker_engine_containers), summed over the selected hosts.', 'none',
      [q(`sum by (state) (docker_engine_containers{${HOST}})`, '{{state}}')],
      [6, 4], { colorMode: 'palette-classic' }),
    stat('Images', 'Images on the selected hosts (docker_engine_images).', 'none',
      [q(`sum(docker_engine_images{${HOST}})`, 'images')],
      [3, 4]),
    stat('Containers by state', 'Selected containers in each state, from the docker_container_state stateset (one series per state, 1 for the current one).', 'none',
      [q(`sum by (state) (docker_container_state{${CONT}})`, '{{state}}')],
      [6, 4], { colorMode: 'palette-classic' }),

    timeseries('Containers by state over time', 'Number of selected containers in each state over time (sum of the docker_container_state stateset).', 'none',
      [q(`sum by (state) (docker_container_state{${CONT}})`, '{{state}}')],
      [12, 8], { custom: { stacking: { mode: 'normal', group: 'A' }, fillOpacity: 40 } }),
    timeseries('Container events by action', 'Container events (create, start, die, oom, health_status_unhealthy, …) per interval, by action, counted by docker_exporter since it started (docker_container_events_total).', 'none',
      [q(`sum by (action) (increase(docker_container_events_total{${CONT}}[$__rate_interval]))`, '{{action}}')],
      [12, 8], { custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal', group: 'A' } } }),

    table('Unhealthy containers', 'Containers whose health check fails now (docker_container_health_status{status="unhealthy"}). Click a name for its detail dashboard.', 'none',
      `max by (job, instance, name) (docker_container_health_status{${CONT}, status="unhealthy"}) == 1`,
      [12, 7], 'unhealthy'),
    table('Restarting containers', 'Containers in state restarting during the time range, or whose restart count changed in it; the value is the restart count (docker_container_restarts). Click a name for its detail dashboard.', 'none',
      `max by (job, instance, name) (docker_container_restarts{${CONT}})\n  and on (job, instance, name)\n(\n    max by (job, instance, name) (max_over_time(docker_container_state{${CONT}, state="restarting"}[$__range])) == 1\n  or\n    max by (job, instance, name) (changes(docker_container_restarts{${CONT}}[$__range])) > 0\n)`,
      [12, 7], 'restarts'),
    table('OOM-killed containers', 'Containers whose last exit was an out-of-memory kill (docker_container_oom_killed), with their exit code. Click a name for its detail dashboard.', 'none',
      `max by (job, instance, name) (docker_container_exit_code{${CONT}})\n  and on (job, instance, name)\nmax by (job, instance, name) (docker_container_oom_killed{${CONT}}) == 1`,
      [12, 7], 'exit code'),
    table('Exited with a non-zero code', 'Stopped containers (state exited or dead) whose last exit code is not 0 (docker_container_exit_code). Click a name for its detail dashboard.', 'none',
      `max by (job, instance, name) (docker_container_exit_code{${CONT}}) != 0\n  and on (job, instance, name)\nmax by (job, instance, name) (docker_container_state{${CONT}, state=~"exited|dead"}) == 1`,
      [12, 7], 'exit code'),

    timeseries('Top containers by CPU', 'The 10 selected containers using the most CPU (rate of container_cpu_usage_seconds_total); 100% is one core.', 'percentunit',
      [q(`topk(10, sum by (job, instance, name) (rate(container_cpu_usage_seconds_total{${CONT}, cpu="total"}[$__rate_interval])))`, '{{name}} ({{instance}})')],
      [12, 8]),
    timeseries('Top containers by memory working set', 'The 10 selected containers with the largest memory working set (container_memory_working_set_bytes: usage less inactive file cache, what the OOM killer looks at).', 'bytes',
      [q(`topk(10, max by (job, instance, name) (container_memory_working_set_bytes{${CONT}}))`, '{{name}} ({{instance}})')],
      [12, 8]),
    timeseries('Network traffic (all selected containers)', 'Bytes per second received and transmitted by all selected containers, all interfaces (container_network_*_bytes_total).', 'Bps',
      [
        q(`sum(rate(container_network_receive_bytes_total{${CONT}}[$__rate_interval]))`, 'received'),
        q(`sum(rate(container_network_transmit_bytes_total{${CONT}}[$__rate_interval]))`, 'transmitted'),
      ],
      [12, 8]),
    timeseries('Block IO (all selected containers)', 'Bytes per second read and written by all selected containers, all devices (container_fs_*_bytes_total; absent when the engine reports no blkio entries).', 'Bps',
      [
        q(`sum(rate(container_fs_reads_bytes_total{${CONT}}[$__rate_interval]))`, 'read'),
        q(`sum(rate(container_fs_writes_bytes_total{${CONT}}[$__rate_interval]))`, 'written'),
      ],
      [12, 8]),

    timeseries('Disk usage by type', 'Bytes the engine holds on disk (docker_disk_usage_bytes) and what docker system prune could free (docker_disk_reclaimable_bytes), by type: images, containers (writable layers), volumes, build cache. Needs --collector.disk (GET /system/df, every 5 minutes by default).', 'bytes',
      [
        q(`sum by (type) (docker_disk_usage_bytes{${HOST}})`, '{{type}}'),
        q(`sum by (type) (docker_disk_reclaimable_bytes{${HOST}})`, '{{type}} reclaimable'),
      ],
      [12, 8]),
    timeseries('Top containers by writable layer', 'The 10 selected containers with the largest writable layer (container_fs_usage_bytes, cAdvisor\'s storage figure). Needs --collector.disk.', 'bytes',
      [q(`topk(10, max by (job, instance, name) (container_fs_usage_bytes{${CONT}}))`, '{{name}} ({{instance}})')],
      [12, 8]),
    row('Swarm (on a Swarm manager; collapsed: no query until opened)', [
      timeseries('Swarm service replicas', 'Running replicas against the desired count of each service (docker_swarm_service_replicas_running, docker_swarm_service_replicas_desired). In the collapsed Swarm row: the swarm collector serves these on a Swarm manager only.', 'none',
        [
          q(`max by (service, mode) (docker_swarm_service_replicas_running{${HOST}})`, '{{service}} running'),
          q(`max by (service, mode) (docker_swarm_service_replicas_desired{${HOST}})`, '{{service}} desired'),
        ],
        [12, 8]),
      timeseries('Swarm services below their desired replicas', 'Replicas missing per service (docker_swarm_service_replicas_desired - docker_swarm_service_replicas_running, when above 0); empty while every service is complete. In the collapsed Swarm row.', 'none',
        [q(`max by (service, mode) (docker_swarm_service_replicas_desired{${HOST}}) - max by (service, mode) (docker_swarm_service_replicas_running{${HOST}}) > 0`, '{{service}} missing')],
        [12, 8]),
      timeseries('Swarm nodes by role and state', 'Nodes of the swarm by role (manager, worker) and state (ready, down, ...) as the manager sees them (docker_swarm_nodes). In the collapsed Swarm row.', 'none',
        [q(`max by (role, state) (docker_swarm_nodes{${HOST}})`, '{{role}} {{state}}')],
        [12, 8]),
      timeseries('Swarm rolling updates', 'The rolling-update state of each service (docker_swarm_service_update_state, one series per state, 1 for the current one). In the collapsed Swarm row.', 'none',
        [q(`max by (service, state) (docker_swarm_service_update_state{${HOST}}) == 1`, '{{service}} {{state}}')],
        [12, 8]),
    ]),
  ],
});

// ---- 2. container detail ---------------------------------------------------

const detail = dashboard({
  uid: DETAIL_UID,
  title: 'Docker / Container detail',
  description: 'One or more containers (the name variable) in detail: CPU against the quota, memory against the limit, network, block IO, pids, restarts, exit code, health and state (docker_exporter).',
  tags: ['container'],
  panels: [
    stat('Uptime', 'Time since the container last started (time() - container_start_time_seconds); only containers with a cgroup (running, paused, restarting).', 's',
      [q(`time() - max by (name) (container_start_time_seconds{${CONT}})`, '{{name}}')],
      [6, 4]),
    stat('Restarts', 'Restarts by the restart policy (docker_container_restarts, the engine\'s RestartCount; a manual start resets it).', 'none',
      [q(`max by (name) (docker_container_restarts{${CONT}})`, '{{name}}')],
      [4, 4], { thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }, { color: 'red', value: 3 }] } }),
    stat('Exit code', 'Exit code of the last exit (docker_container_exit_code); 137 is a SIGKILL, often the OOM killer.', 'none',
      [q(`max by (name) (docker_container_exit_code{${CONT}})`, '{{name}}')],
      [4, 4], { thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'red', value: 1 }] } }),
    stat('OOM killed', 'Whether the last exit was an out-of-memory kill (docker_container_oom_killed).', 'none',
      [q(`max by (name) (docker_container_oom_killed{${CONT}})`, '{{name}}')],
      [4, 4], {
        mappings: [{ type: 'value', options: { 0: { text: 'no', color: 'green', index: 0 }, 1: { text: 'OOM-killed', color: 'red', index: 1 } } }],
      }),
    stat('Health', 'Current health status (docker_container_health_status: none when the container has no health check).', 'none',
      [q(`max by (name, status) (docker_container_health_status{${CONT}}) == 1`, '{{name}}: {{status}}')],
      [6, 4], { options: { textMode: 'name', colorMode: 'none' } }),

    stateTimeline('State', 'The container state over time: the docker_container_state stateset drawn as a state timeline (created, running, paused, restarting, removing, exited, dead).',
      encodeStateset('docker_container_state', 'state', CONTAINER_STATES, CONT), '{{name}}', CONTAINER_STATES, [24, 6]),

    timeseries('CPU used against the quota', 'CPU used (rate of container_cpu_usage_seconds_total) and the CPU quota (container_spec_cpu_quota / container_spec_cpu_period, only when a limit is set); 100% is one core.', 'percentunit',
      [
        q(`sum by (name) (rate(container_cpu_usage_seconds_total{${CONT}, cpu="total"}[$__rate_interval]))`, '{{name}} used'),
        q(`max by (name) (container_spec_cpu_quota{${CONT}} / container_spec_cpu_period{${CONT}})`, '{{name}} quota'),
      ],
      [12, 8]),
    timeseries('CPU throttling', 'Share of CFS periods in which the container was throttled (container_cpu_cfs_throttled_periods_total / container_cpu_cfs_periods_total); only containers with a CPU quota.', 'percentunit',
      [q(`sum by (name) (rate(container_cpu_cfs_throttled_periods_total{${CONT}}[$__rate_interval]))\n  / sum by (name) (rate(container_cpu_cfs_periods_total{${CONT}}[$__rate_interval]) > 0)`, '{{name}} throttled')],
      [12, 8], { min: 0, max: 1 }),

    timeseries('Memory against the limit', 'Working set (container_memory_working_set_bytes), RSS (container_memory_rss), page cache (container_memory_cache) and the memory limit (container_spec_memory_limit_bytes, only when set).', 'bytes',
      [
        q(`max by (name) (container_memory_working_set_bytes{${CONT}})`, '{{name}} working set'),
        q(`max by (name) (container_memory_rss{${CONT}})`, '{{name}} rss'),
        q(`max by (name) (container_memory_cache{${CONT}})`, '{{name}} cache'),
        q(`max by (name) (container_spec_memory_limit_bytes{${CONT}} > 0)`, '{{name}} limit'),
      ],
      [12, 8]),
    timeseries('Pids against the limit', 'Processes and threads in the container (container_threads) and its pids limit (container_threads_max, only when set).', 'none',
      [
        q(`max by (name) (container_threads{${CONT}})`, '{{name}} pids'),
        q(`max by (name) (container_threads_max{${CONT}} > 0)`, '{{name}} limit'),
      ],
      [12, 8]),

    timeseries('Network bytes per interface', 'Bytes per second received (positive) and transmitted per interface (container_network_{receive,transmit}_bytes_total).', 'Bps',
      [
        q(`sum by (name, interface) (rate(container_network_receive_bytes_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} received'),
        q(`sum by (name, interface) (rate(container_network_transmit_bytes_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} transmitted'),
      ],
      [12, 8]),
    timeseries('Network packets per interface', 'Packets per second received and transmitted per interface (container_network_{receive,transmit}_packets_total).', 'pps',
      [
        q(`sum by (name, interface) (rate(container_network_receive_packets_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} received'),
        q(`sum by (name, interface) (rate(container_network_transmit_packets_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} transmitted'),
      ],
      [12, 8]),
    timeseries('Network errors and drops', 'Packets per second dropped and errors per interface, both directions (container_network_*_packets_dropped_total, container_network_*_errors_total).', 'pps',
      [
        q(`sum by (name, interface) (rate(container_network_receive_errors_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} receive errors'),
        q(`sum by (name, interface) (rate(container_network_transmit_errors_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} transmit errors'),
        q(`sum by (name, interface) (rate(container_network_receive_packets_dropped_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} receive drops'),
        q(`sum by (name, interface) (rate(container_network_transmit_packets_dropped_total{${CONT}}[$__rate_interval]))`, '{{name}} {{interface}} transmit drops'),
      ],
      [12, 8]),
    timeseries('Block IO', 'Bytes per second read and written per device (container_fs_{reads,writes}_bytes_total, device as major:minor; absent when the engine reports no blkio entries).', 'Bps',
      [
        q(`sum by (name, device) (rate(container_fs_reads_bytes_total{${CONT}}[$__rate_interval]))`, '{{name}} {{device}} read'),
        q(`sum by (name, device) (rate(container_fs_writes_bytes_total{${CONT}}[$__rate_interval]))`, '{{name}} {{device}} written'),
      ],
      [12, 8]),

    timeseries('Restarts over time', 'The restart count over time (docker_container_restarts): steps up at every restart by the restart policy.', 'none',
      [q(`max by (name) (docker_container_restarts{${CONT}})`, '{{name}}')],
      [8, 8]),
    stateTimeline('Health over time', 'The health status over time: the docker_container_health_status stateset drawn as a state timeline (none, starting, healthy, unhealthy).',
      encodeStateset('docker_container_health_status', 'status', HEALTH_STATES, CONT), '{{name}}', HEALTH_STATES, [8, 8]),
    timeseries('Events', 'Events of the container per interval by action (docker_container_events_total: start, die, oom, health_status_unhealthy, …).', 'none',
      [q(`sum by (name, action) (increase(docker_container_events_total{${CONT}}[$__rate_interval]))`, '{{name}} {{action}}')],
      [8, 8], { custom: { drawStyle: 'bars', fillOpacity: 60 } }),
  ],
});

// ---- 3. exporter and engine ------------------------------------------------

const exporter = dashboard({
  uid: 'docker-exporter-self',
  title: 'Docker / Exporter and engine',
  description: 'Health of docker_exporter itself and of the engines it reads: engine reachability, collectors, snapshot age, event stream, and the scrapes as Prometheus sees them.',
  tags: ['exporter'],
  panels: [
    timeseries('Engine up', 'docker_up per host: 1 when the last call of docker_exporter to the Docker engine succeeded, 0 when the engine is unreachable.', 'none',
      [q(`docker_up{${HOST}}`, '{{instance}}')],
      [12, 7], { min: 0, max: 1, custom: { drawStyle: 'line', lineInterpolation: 'stepAfter' } }),
    timeseries('Target up', 'up per target: 1 when Prometheus scraped docker_exporter successfully.', 'none',
      [q(`up{${HOST}}`, '{{instance}}')],
      [12, 7], { min: 0, max: 1, custom: { drawStyle: 'line', lineInterpolation: 'stepAfter' } }),

    timeseries('Snapshot age', 'Seconds since the last periodic collection cycle completed (time() - docker_exporter_last_collection_timestamp_seconds); grows when the engine is unreachable or the collector is stuck.', 's',
      [q(`time() - docker_exporter_last_collection_timestamp_seconds{${HOST}}`, '{{instance}}')],
      [12, 7]),
    timeseries('Collector durations', 'Duration of the last run of each collector (docker_exporter_collector_duration_seconds).', 's',
      [q(`docker_exporter_collector_duration_seconds{${HOST}}`, '{{instance}} {{collector}}')],
      [12, 7]),

    timeseries('Collector success', 'Whether the last run of each collector succeeded (docker_exporter_collector_success: 1 yes, 0 no).', 'none',
      [q(`docker_exporter_collector_success{${HOST}}`, '{{instance}} {{collector}}')],
      [12, 7], { min: 0, max: 1, custom: { drawStyle: 'line', lineInterpolation: 'stepAfter' } }),
    timeseries('Collector errors', 'Errors per interval of each collector (increase of docker_exporter_collector_errors_total).', 'none',
      [q(`sum by (instance, collector) (increase(docker_exporter_collector_errors_total{${HOST}}[$__rate_interval]))`, '{{instance}} {{collector}}')],
      [12, 7], { custom: { drawStyle: 'bars', fillOpacity: 60 } }),

    timeseries('Event stream reconnects', 'Times the Docker event stream was reopened after it broke, per interval (increase of docker_exporter_event_stream_reconnects_total).', 'none',
      [q(`sum by (instance) (increase(docker_exporter_event_stream_reconnects_total{${HOST}}[$__rate_interval]))`, '{{instance}}')],
      [12, 7], { custom: { drawStyle: 'bars', fillOpacity: 60 } }),
    timeseries('Engine events by type', 'Every event the engines sent, per interval, by type and action (increase of docker_events_total).', 'none',
      [q(`sum by (type, action) (increase(docker_events_total{${HOST}}[$__rate_interval]))`, '{{type}} {{action}}')],
      [12, 7], { custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal', group: 'A' } } }),

    timeseries('Scrape duration', 'How long Prometheus took to scrape docker_exporter (scrape_duration_seconds).', 's',
      [q(`scrape_duration_seconds{${HOST}}`, '{{instance}}')],
      [12, 7]),
    timeseries('Samples scraped', 'Samples per scrape of docker_exporter (scrape_samples_scraped): grows with the number of containers.', 'none',
      [q(`scrape_samples_scraped{${HOST}}`, '{{instance}}')],
      [12, 7]),

    table('Engines', 'Version, API version, OS, kernel, storage and cgroup driver of each engine (docker_engine_info).', 'none',
      `docker_engine_info{${HOST}}`, [16, 6], 'info'),
    table('Exporter builds', 'Version and revision of docker_exporter on each host (docker_exporter_build_info).', 'none',
      `docker_exporter_build_info{${HOST}}`, [8, 6], 'info'),
  ],
});

// ---- output ----------------------------------------------------------------

const out = {
  'docker-overview.json': overview,
  'docker-container-detail.json': detail,
  'docker-exporter.json': exporter,
};
// --panels-md: print the panel tables of dashboards/README.md (paste them there).
if (process.argv.includes('--panels-md')) {
  for (const [file, d] of Object.entries(out)) {
    console.log(`### ${d.title} — \`${file}\` (uid \`${d.uid}\`)\n\n${d.description}\n`);
    console.log('| panel | type, unit | query | what it shows |\n|---|---|---|---|');
    for (const p of queryPanels(d.panels)) {
      const queries = p.targets.map((t) => '`' + t.expr.split(/\s+/).join(' ').replaceAll('|', '\\|') + '`').join('<br>');
      console.log(`| ${p.title} | ${p.type}, \`${p.fieldConfig.defaults.unit}\` | ${queries} | ${p.description.replaceAll('|', '\\|')} |`);
    }
    console.log('');
  }
  process.exit(0);
}
const check = process.argv.includes('--check');
let stale = [];
for (const [file, dash] of Object.entries(out)) {
  const text = JSON.stringify(dash, null, 2) + '\n';
  const path = join(here, file);
  if (check) {
    let old = '';
    try {
      old = readFileSync(path, 'utf8');
    } catch {}
    if (old !== text) stale.push(file);
  } else {
    writeFileSync(path, text);
    console.log(`wrote dashboards/${file} (${dash.panels.length} panels)`);
  }
}
if (stale.length) {
  console.error(`dashboards out of date with generate.mjs: ${stale.join(', ')} (run: node dashboards/generate.mjs)`);
  process.exit(1);
}
