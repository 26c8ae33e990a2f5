//! Fragment encoding (`src/metrics/fragments.rs`): after any sequence of
//! changes (containers added, removed, their state, stats, labels changed;
//! engine, events, disk and swarm changes), the body the exposition cache
//! assembles from fragments is byte-identical to a full encode of the same
//! snapshot, in both formats; and only the blocks of containers that
//! changed are encoded again.

use docker_exporter::metrics::{render, ExpositionCache, Format};
use docker_exporter::snapshot::{
    BlockDevice, CollectorStatus, Container, ContainerDisk, ContainerEntry, ContainerEvents, Disk,
    Engine, EventCounts, Health, Memory, Network, Snapshot, Spec, State, Stats, Swarm,
    SwarmService, Throttling,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The world the snapshots are made of: the `Arc`s are kept between steps,
/// as the store keeps them, and replaced only where a step changes them.
#[derive(Debug, Clone, Default)]
struct World {
    /// id → container and its stats.
    containers: BTreeMap<String, (Arc<Container>, Option<Arc<Stats>>)>,
    engine: Option<Arc<Engine>>,
    events: Arc<EventCounts>,
    disk: Option<Arc<Disk>>,
    swarm: Option<Arc<Swarm>>,
    collected_at: f64,
    next_id: u64,
}

impl World {
    fn snapshot(&self) -> Arc<Snapshot> {
        let mut containers: Vec<ContainerEntry> = self
            .containers
            .values()
            .map(|(c, s)| ContainerEntry {
                container: c.clone(),
                stats: if c.state.is_live() { s.clone() } else { None },
            })
            .collect();
        containers.sort_by(|a, b| {
            (&a.container.name, &a.container.id).cmp(&(&b.container.name, &b.container.id))
        });
        Arc::new(Snapshot {
            collected_at: self.collected_at,
            engine_up: self.engine.is_some(),
            engine: self.engine.clone(),
            containers,
            events: self.events.clone(),
            collectors: BTreeMap::from([(
                "stats",
                CollectorStatus {
                    duration_seconds: self.collected_at / 7.0,
                    success: true,
                    errors_total: 3,
                },
            )]),
            event_stream_reconnects: 1,
            events_connected: true,
            disk: self.disk.clone(),
            swarm: self.swarm.clone(),
            stats_cgroup_misses: Some(BTreeMap::from([("gone", self.collected_at as u64)])),
        })
    }

    /// The id of the `pick`-th container (`None` when there is none).
    fn pick(&self, pick: usize) -> Option<String> {
        let n = self.containers.len();
        (n > 0).then(|| self.containers.keys().nth(pick % n).unwrap().clone())
    }
}

/// Names that sort in every order and need escaping now and then.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,3}",
        Just("we\"ird\\name\n".to_string()),
        Just("ünï".to_string()),
    ]
}

fn state() -> impl Strategy<Value = State> {
    prop::sample::select(State::ALL.to_vec())
}

fn health() -> impl Strategy<Value = Health> {
    prop::sample::select(Health::ALL.to_vec())
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(
        prop_oneof![
            Just("container_label_a".to_string()),
            Just("container_label_b".to_string())
        ],
        prop_oneof!["[a-z]{0,3}", Just("q\"\\\n".to_string())],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..2_000_000_000).prop_map(f64::from),
        any::<f64>(),
        Just(1.5e9 + 0.123_456_789),
    ]
}

fn opt_u64() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(prop_oneof![0u64..1000, any::<u64>()])
}

fn stats() -> impl Strategy<Value = Stats> {
    (
        float(),
        (opt_u64(), opt_u64(), opt_u64()),
        prop::option::of((0u64..100, 0u64..100, any::<u64>())),
        prop::option::of((0u64..1 << 40, opt_u64(), opt_u64(), opt_u64())),
        prop::collection::vec(("eth[0-2]", opt_u64(), opt_u64()), 0..3),
        prop::collection::vec(("[0-9]:[0-9]", opt_u64(), opt_u64()), 0..3),
        (opt_u64(), opt_u64(), opt_u64()),
    )
        .prop_map(
            |(
                read_at,
                (total, user, system),
                throttling,
                memory,
                nets,
                devs,
                (pids, max, processes),
            )| Stats {
                read_at,
                cpu_total_ns: total,
                cpu_user_ns: user,
                cpu_system_ns: system,
                throttling: throttling.map(|(p, t, ns)| Throttling {
                    periods: p,
                    throttled_periods: t,
                    throttled_ns: ns,
                }),
                memory: memory.map(|(usage, ws, rss, failcnt)| Memory {
                    usage,
                    working_set: ws,
                    rss,
                    failcnt,
                    ..Memory::default()
                }),
                networks: nets
                    .into_iter()
                    .map(|(i, rx, tx)| {
                        let n = Network {
                            rx_bytes: rx,
                            tx_bytes: tx,
                            rx_packets: rx.map(|v| v / 3),
                            ..Network::default()
                        };
                        (i, n)
                    })
                    .collect(),
                blkio: devs
                    .into_iter()
                    .map(|(device, r, w)| BlockDevice {
                        device,
                        read_bytes: r,
                        write_bytes: w,
                        reads: r,
                        writes: None,
                    })
                    .collect(),
                pids_current: pids,
                pids_limit: max,
                processes,
                previous: None,
            },
        )
}

/// One change between two snapshots.
#[derive(Debug, Clone)]
enum Step {
    /// Nothing changed: a new snapshot of the same `Arc`s (what a publish
    /// that touched another part of the store gives).
    Republish,
    Add(
        String,
        State,
        Health,
        Vec<(String, String)>,
        Option<f64>,
        Option<i64>,
    ),
    Remove(usize),
    SetState(usize, State, Health),
    SetLabels(usize, Vec<(String, String)>),
    /// Same values, new `Arc` (an inspect that found nothing new).
    Reinspect(usize),
    SetStats(usize, Option<Stats>),
    /// A stats cycle: every container gets a new sample.
    AllStats(Stats),
    Oom(usize, u64),
    Action(String, &'static str, u64),
    Engine(Option<(String, u64)>),
    Disk(Option<(u64, Vec<usize>)>),
    Swarm(bool),
    Collected(f64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Republish),
        4 => (name(), state(), health(), labels(), prop::option::of(float()), prop::option::of(any::<i64>()))
            .prop_map(|(n, s, h, l, f, q)| Step::Add(n, s, h, l, f, q)),
        2 => any::<usize>().prop_map(Step::Remove),
        3 => (any::<usize>(), state(), health()).prop_map(|(i, s, h)| Step::SetState(i, s, h)),
        1 => (any::<usize>(), labels()).prop_map(|(i, l)| Step::SetLabels(i, l)),
        1 => any::<usize>().prop_map(Step::Reinspect),
        3 => (any::<usize>(), prop::option::of(stats())).prop_map(|(i, s)| Step::SetStats(i, s)),
        1 => stats().prop_map(Step::AllStats),
        1 => (any::<usize>(), 0u64..3).prop_map(|(i, n)| Step::Oom(i, n)),
        1 => (name(), prop::sample::select(vec!["start", "die", "oom"]), 1u64..5)
            .prop_map(|(n, a, k)| Step::Action(n, a, k)),
        1 => prop::option::of(("overlay2|zfs", 1u64..64)).prop_map(Step::Engine),
        1 => prop::option::of((0u64..1 << 30, prop::collection::vec(any::<usize>(), 0..4)))
            .prop_map(Step::Disk),
        1 => any::<bool>().prop_map(Step::Swarm),
        1 => prop_oneof![Just(0.0), float()].prop_map(Step::Collected),
    ]
}

fn engine(driver: &str, cpus: u64) -> Engine {
    Engine {
        version: "25.0.5".into(),
        api_version_label: "1.44".into(),
        os: "Debian".into(),
        os_type: "linux".into(),
        architecture: "x86_64".into(),
        kernel_version: "6.1".into(),
        storage_driver: driver.into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: "1".into(),
        cpus: Some(cpus),
        memory_bytes: (cpus % 2 == 0).then_some(1 << 30),
        containers_running: Some(cpus),
        images: None,
        ..Engine::default()
    }
}

/// Applies `step`; returns how many blocks of containers it may make
/// re-encode at most (`None`: any number).
fn apply(w: &mut World, step: &Step) -> Option<usize> {
    let change = |w: &mut World, pick: usize, f: &dyn Fn(&mut Container)| -> Option<usize> {
        let id = w.pick(pick)?;
        let entry = w.containers.get_mut(&id).unwrap();
        let mut c = (*entry.0).clone();
        f(&mut c);
        entry.0 = Arc::new(c);
        Some(1)
    };
    match step.clone() {
        Step::Republish => Some(0),
        Step::Add(name, state, health, labels, started_at, cpu_quota) => {
            w.next_id += 1;
            let id = format!("{:064x}", w.next_id);
            let c = Container {
                cgroup_path: format!("/docker/{id}"),
                pid: Some(w.next_id as u32),
                host_network: w.next_id % 5 == 0,
                id: id.clone(),
                name,
                image: "busybox:latest".into(),
                image_id: "sha256:1".into(),
                labels,
                state,
                health,
                restart_count: w.next_id % 3,
                exit_code: -(w.next_id as i64 % 2),
                oom_killed: w.next_id % 2 == 0,
                created: Some(1.7e9),
                started_at,
                finished_at: started_at.map(|t| t + 1.0),
                spec: Spec {
                    cpu_quota,
                    cpu_period: 100_000,
                    cpu_shares: 1024,
                    ..Spec::default()
                },
            };
            w.containers.insert(id, (Arc::new(c), None));
            // A block split in two.
            Some(2)
        }
        Step::Remove(pick) => {
            if let Some(id) = w.pick(pick) {
                w.containers.remove(&id);
            }
            // Its block shrinks, or merges with the next.
            Some(1)
        }
        Step::SetState(pick, s, h) => change(w, pick, &|c| {
            c.state = s;
            c.health = h;
        }),
        Step::SetLabels(pick, l) => change(w, pick, &|c| c.labels = l.clone()),
        Step::Reinspect(pick) => change(w, pick, &|_| {}),
        Step::SetStats(pick, s) => {
            let id = w.pick(pick)?;
            w.containers.get_mut(&id).unwrap().1 = s.map(Arc::new);
            Some(1)
        }
        Step::AllStats(s) => {
            for (i, (_, stats)) in w.containers.values_mut().enumerate() {
                let mut s = s.clone();
                s.read_at += i as f64;
                *stats = Some(Arc::new(s));
            }
            None
        }
        Step::Oom(pick, n) => {
            let c = w.pick(pick).map(|id| w.containers[&id].0.clone())?;
            let events = Arc::make_mut(&mut w.events);
            let e = events.by_container.entry(c.name.clone()).or_default();
            e.oom += n;
            e.last_known = Some(c);
            None
        }
        Step::Action(name, action, n) => {
            let events = Arc::make_mut(&mut w.events);
            let e: &mut ContainerEvents = events.by_container.entry(name.clone()).or_default();
            *e.actions.entry(action).or_default() += n;
            *events
                .by_type
                .entry(("container".into(), action.into()))
                .or_default() += n;
            Some(0)
        }
        Step::Engine(e) => {
            w.engine = e.map(|(d, cpus)| Arc::new(engine(&d, cpus)));
            None
        }
        Step::Disk(d) => {
            w.disk = d.map(|(size, picks)| {
                let mut disk = Disk {
                    volumes: vec![("v".into(), size)],
                    collected_at: size as f64,
                    ..Disk::default()
                };
                for p in picks {
                    if let Some(id) = w.pick(p) {
                        disk.containers.insert(
                            id,
                            ContainerDisk {
                                size_rw: size,
                                size_root_fs: (p % 2 == 0).then_some(size * 2),
                            },
                        );
                    }
                }
                Arc::new(disk)
            });
            None
        }
        Step::Swarm(on) => {
            w.swarm = on.then(|| {
                Arc::new(Swarm {
                    services: vec![SwarmService {
                        name: "web".into(),
                        mode: "replicated",
                        image: "nginx".into(),
                        desired: 2,
                        running: 1,
                        update_state: None,
                    }],
                    nodes: vec![],
                })
            });
            Some(0)
        }
        Step::Collected(t) => {
            w.collected_at = t;
            Some(0)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn assembled_bodies_equal_full_encodes(steps in prop::collection::vec(step(), 1..40)) {
        let cache = ExpositionCache::default();
        let mut world = World::default();
        for step in &steps {
            let bound = apply(&mut world, step);
            let snapshot = world.snapshot();
            let exposition = cache.get(snapshot.clone());
            for format in [Format::Text, Format::OpenMetrics] {
                let body = exposition.body(format, false).to_bytes();
                let full = render(&snapshot, format, 0);
                prop_assert_eq!(std::str::from_utf8(&body).unwrap(), full.as_str(), "{:?} after {:?}", format, step);
                prop_assert_eq!(cache.fallbacks(), 0);
                let reuse = cache.reuse(format);
                prop_assert_eq!(reuse.encoded + reuse.reused, snapshot.containers.len());
                if let Some(bound) = bound {
                    prop_assert!(reuse.blocks_encoded <= bound, "{:?}: {:?} after {:?}", format, reuse, step);
                }
            }
        }
    }
}

/// A snapshot with one container changed re-encodes that container's block
/// only, and the body still matches a full encode (the benchmarks' event
/// case, at a size where a slip would show).
#[test]
fn one_changed_container_of_a_thousand_encodes_one_block() {
    let cache = ExpositionCache::default();
    let mut world = World {
        engine: Some(Arc::new(engine("overlay2", 2))),
        ..World::default()
    };
    for i in 0..1000 {
        let state = if i % 8 == 0 {
            State::Exited
        } else {
            State::Running
        };
        apply(
            &mut world,
            &Step::Add(
                format!("c{i:04}"),
                state,
                Health::None,
                vec![],
                Some(1.7e9),
                None,
            ),
        );
    }
    let sample = Stats {
        read_at: 1.7e9,
        cpu_total_ns: Some(5),
        networks: vec![("eth0".into(), Network::default())],
        ..Stats::default()
    };
    apply(&mut world, &Step::AllStats(sample));
    for format in [Format::Text, Format::OpenMetrics] {
        cache.get(world.snapshot()).body(format, false);
        assert_eq!(cache.reuse(format).encoded, 1000);
    }
    apply(
        &mut world,
        &Step::SetState(500, State::Exited, Health::None),
    );
    let snapshot = world.snapshot();
    for format in [Format::Text, Format::OpenMetrics] {
        let body = cache.get(snapshot.clone()).body(format, false).to_bytes();
        let reuse = cache.reuse(format);
        assert_eq!(reuse.blocks_encoded, 1, "{reuse:?}");
        assert!(reuse.blocks_reused > 10, "{reuse:?}");
        assert!(reuse.encoded <= 128, "{reuse:?}");
        assert_eq!(body, render(&snapshot, format, 0).as_bytes());
    }
    assert_eq!(cache.fallbacks(), 0);
}
