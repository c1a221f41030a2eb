//! What the stage draws: the floor with Hall's zones as rings, the listener, and one body per stem (colour,
//! radius from size, a halo on the floor that grows with the reverb share, a glow that follows its meter, a
//! grey ghost when it cannot be heard, and a jagged, grainy, colour-speckled shell that grows with its spoil).

use bevy::picking::Pickable;
use bevy::prelude::*;

use super::camera::OrbitCamera;
use super::input;
use super::shared::{LiveMixes, LiveTimeline, Meters, RoomTags, TransportState};
use super::stems::{BodySize, Muted, Selected, Solo, Spoil, StageScene, StemBody};
use super::workshop::{Presentation, QuizState};
use crate::mix::mapping::{EAR_HEIGHT_M, Zone};

pub use crate::handout::{STEM_COLOURS, body_radius, reverb_share};

pub fn stem_colour(index: usize) -> Color {
    let [r, g, b] = STEM_COLOURS[index % STEM_COLOURS.len()];
    Color::srgb_u8(r, g, b)
}

/// The zone rings drawn on the floor, with their labels.
pub const ZONE_RINGS: [(f32, &str); 3] =
    [(Zone::INTIMATE_M, "intimate 0.45 m"), (Zone::PERSONAL_M, "personal 1.2 m"), (Zone::SOCIAL_M, "social 3.6 m")];

pub const BACKGROUND: Color = Color::srgb(0.055, 0.06, 0.075);

/// Parts drawn for a body but not part of it (so its scale does not stretch them).
#[derive(Component, Debug, Clone, Copy)]
pub struct BodyPart {
    pub body: Entity,
    pub kind: PartKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// The pool of reverb on the floor under the body.
    Halo,
    /// The line from the floor up to the body, so height reads at a glance.
    Stalk,
    /// The ring that marks a selected body.
    SelectionRing,
    /// The rough shell of a spoiled body: spikes, facets and speckled colour that grow with the amount.
    Rough,
}

/// How many degrees of roughness the shell has (one mesh each; a spoil amount picks the nearest above it).
pub const ROUGH_LEVELS: usize = 6;
/// Below this spoil the shell is hidden.
const ROUGH_FROM: f32 = 0.005;

/// The shell for roughness `level` of [`ROUGH_LEVELS`]: an icosphere whose vertices are pushed in and out
/// by a fixed pseudo-random amount (jagged edge), cut into flat facets (grain), each facet's colour
/// scattered around white (colour noise; the material's colour multiplies it). Deterministic.
pub fn rough_mesh(level: usize) -> Mesh {
    let amount = level.clamp(1, ROUGH_LEVELS) as f32 / ROUGH_LEVELS as f32;
    let mut mesh = Sphere::new(1.0).mesh().ico(2).expect("ico 2 is a valid subdivision");
    // The same shape every time: each vertex and facet draws from a generator seeded by its index and what
    // the draw is for.
    let hash = |i: u32, salt: u32| {
        use rand::{RngExt, SeedableRng};
        rand_pcg::Pcg32::seed_from_u64(((salt as u64) << 32) | i as u64).random::<f32>()
    };
    if let Some(positions) = mesh.attribute(Mesh::ATTRIBUTE_POSITION).and_then(|a| a.as_float3()) {
        // Spikes reach out up to 10 % (a hint) .. 55 % (fully spoiled) past the body; dents hide inside it.
        let reach = 0.1 + 0.45 * amount;
        let moved: Vec<[f32; 3]> = positions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let d = 0.97 + reach * (hash(i as u32, 1).powi(3) * 1.3 - 0.3).max(0.0);
                [p[0] * d, p[1] * d, p[2] * d]
            })
            .collect();
        mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, moved);
    }
    mesh.duplicate_vertices();
    mesh.compute_flat_normals();
    let vertices = mesh.count_vertices();
    let speckle = 0.25 + 0.75 * amount;
    let colours: Vec<[f32; 4]> = (0..vertices)
        .map(|v| {
            let facet = (v / 3) as u32;
            let bright = 1.0 + speckle * (hash(facet, 2) - 0.5);
            let tint = |salt| (bright * (1.0 + 0.6 * speckle * (hash(facet, salt) - 0.5))).max(0.0);
            [tint(3), tint(4), tint(5), 1.0]
        })
        .collect();
    mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, colours);
    mesh
}

/// Which of the [`ROUGH_LEVELS`] shells shows `spoil` (0 = none).
pub fn rough_level(spoil: f32) -> usize {
    if spoil < ROUGH_FROM { 0 } else { ((spoil * ROUGH_LEVELS as f32).ceil() as usize).clamp(1, ROUGH_LEVELS) }
}

/// The last look a body's material was given, so materials are only touched when it visibly changes.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq)]
struct BodyLook {
    glow: f32,
    ghost: bool,
    halo: f32,
}

#[derive(Resource)]
struct StageMeshes {
    sphere: Handle<Mesh>,
    /// The rough shells, from a hint (index 0) to fully spoiled.
    rough: Vec<Handle<Mesh>>,
    disc: Handle<Mesh>,
    ring: Handle<Mesh>,
    stalk: Handle<Mesh>,
    stalk_material: Handle<StandardMaterial>,
    selection_material: Handle<StandardMaterial>,
}

pub struct StageViewPlugin;

impl Plugin for StageViewPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ClearColor(BACKGROUND)).add_systems(Startup, build_stage).add_systems(
            PostUpdate,
            (dress_new_bodies, follow_bodies, body_looks, hide_bodies_to_listen, show_quiz_truth, draw_paths).chain(),
        );
    }
}

fn unlit(materials: &mut Assets<StandardMaterial>, colour: Color) -> Handle<StandardMaterial> {
    let alpha_mode = if colour.alpha() < 1.0 { AlphaMode::Blend } else { AlphaMode::Opaque };
    materials.add(StandardMaterial { base_color: colour, unlit: true, alpha_mode, ..default() })
}

fn build_stage(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let orbit = OrbitCamera::default();
    let camera = commands
        .spawn((Camera3d::default(), orbit, orbit.transform(), AmbientLight { brightness: 250.0, ..default() }))
        .id();
    // In the browser the sound is rendered between frames on the page's one thread: multisampling would cost
    // frame time (4x the pixels on a software renderer) that the sound needs more than smooth edges.
    if cfg!(target_arch = "wasm32") {
        commands.entity(camera).insert(Msaa::Off);
    }
    commands.spawn((
        DirectionalLight { illuminance: 3_500.0, shadow_maps_enabled: false, ..default() },
        Transform::from_xyz(3.0, 8.0, 4.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));

    // The floor; pressing on it clears the selection.
    commands
        .spawn((
            Mesh3d(meshes.add(Plane3d::default().mesh().size(80.0, 80.0))),
            MeshMaterial3d(unlit(&mut materials, Color::srgb(0.085, 0.092, 0.11))),
        ))
        .observe(input::on_floor_press);

    // Zones: soft fills from the listener outwards, a thin ring at each boundary.
    let flat = Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2);
    let fills = [
        (0.0, Zone::INTIMATE_M, Color::srgb(0.20, 0.13, 0.15)),
        (Zone::INTIMATE_M, Zone::PERSONAL_M, Color::srgb(0.15, 0.13, 0.17)),
        (Zone::PERSONAL_M, Zone::SOCIAL_M, Color::srgb(0.11, 0.125, 0.15)),
    ];
    for (i, (inner, outer, colour)) in fills.into_iter().enumerate() {
        let mesh = if inner == 0.0 {
            meshes.add(Circle::new(outer).mesh().resolution(96))
        } else {
            meshes.add(Annulus::new(inner, outer).mesh().resolution(128))
        };
        commands.spawn((
            Mesh3d(mesh),
            MeshMaterial3d(unlit(&mut materials, colour)),
            Transform::from_xyz(0.0, 0.001 + i as f32 * 0.0005, 0.0).with_rotation(flat),
            Pickable::IGNORE,
        ));
    }
    let ring_material = unlit(&mut materials, Color::srgb(0.42, 0.45, 0.52));
    for (radius, _) in ZONE_RINGS {
        commands.spawn((
            Mesh3d(meshes.add(Annulus::new(radius - 0.015, radius + 0.015).mesh().resolution(160))),
            MeshMaterial3d(ring_material.clone()),
            Transform::from_xyz(0.0, 0.004, 0.0).with_rotation(flat),
            Pickable::IGNORE,
        ));
    }

    // The listener: seated, ears at EAR_HEIGHT_M, nose towards the stage (-Z).
    let person = materials.add(StandardMaterial { base_color: Color::srgb(0.78, 0.8, 0.85), ..default() });
    let head_y = EAR_HEIGHT_M;
    commands.spawn((
        Mesh3d(meshes.add(Capsule3d::new(0.17, 0.55))),
        MeshMaterial3d(person.clone()),
        Transform::from_xyz(0.0, head_y - 0.55, 0.05),
        Pickable::IGNORE,
    ));
    commands.spawn((
        Mesh3d(meshes.add(Sphere::new(0.12).mesh().uv(32, 16))),
        MeshMaterial3d(person.clone()),
        Transform::from_xyz(0.0, head_y, 0.0),
        Pickable::IGNORE,
    ));
    commands.spawn((
        Mesh3d(meshes.add(Cone { radius: 0.045, height: 0.12 })),
        MeshMaterial3d(person),
        Transform::from_xyz(0.0, head_y, -0.15).with_rotation(Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)),
        Pickable::IGNORE,
    ));

    commands.insert_resource(StageMeshes {
        sphere: meshes.add(Sphere::new(1.0).mesh().ico(5).expect("ico 5 is a valid subdivision")),
        rough: (1..=ROUGH_LEVELS).map(|level| meshes.add(rough_mesh(level))).collect(),
        disc: meshes.add(Circle::new(1.0).mesh().resolution(64)),
        ring: meshes.add(Annulus::new(0.92, 1.0).mesh().resolution(64)),
        stalk: meshes.add(Cylinder::new(0.012, 1.0)),
        stalk_material: unlit(&mut materials, Color::srgba(0.7, 0.72, 0.8, 0.55)),
        selection_material: unlit(&mut materials, Color::srgb(0.95, 0.95, 0.98)),
    });
}

/// Gives each new stem entity its mesh, material, floor parts and pointer handlers.
fn dress_new_bodies(
    mut commands: Commands,
    meshes: Res<StageMeshes>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    new_bodies: Query<(Entity, &StemBody), Added<StemBody>>,
) {
    for (entity, body) in &new_bodies {
        let colour = stem_colour(body.index);
        let material = materials.add(StandardMaterial {
            base_color: colour,
            perceptual_roughness: 0.55,
            alpha_mode: AlphaMode::Opaque,
            ..default()
        });
        commands
            .entity(entity)
            .insert((Mesh3d(meshes.sphere.clone()), MeshMaterial3d(material), BodyLook::default()))
            .observe(input::on_press)
            .observe(input::on_drag_start)
            .observe(input::on_drag)
            .observe(input::on_drag_end)
            .observe(input::on_over)
            .observe(input::on_out);
        let halo = materials.add(StandardMaterial {
            base_color: colour.with_alpha(0.3),
            unlit: true,
            alpha_mode: AlphaMode::Blend,
            ..default()
        });
        let rough = materials.add(StandardMaterial {
            base_color: colour,
            perceptual_roughness: 1.0,
            alpha_mode: AlphaMode::Opaque,
            ..default()
        });
        let flat = Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2);
        let parts = [
            (PartKind::Halo, meshes.disc.clone(), halo, flat),
            (PartKind::Stalk, meshes.stalk.clone(), meshes.stalk_material.clone(), Quat::IDENTITY),
            (PartKind::SelectionRing, meshes.ring.clone(), meshes.selection_material.clone(), flat),
            (PartKind::Rough, meshes.rough[0].clone(), rough, Quat::from_rotation_y(body.index as f32 * 1.7)),
        ];
        for (kind, mesh, material, rotation) in parts {
            commands.spawn((
                BodyPart { body: entity, kind },
                Mesh3d(mesh),
                MeshMaterial3d(material),
                Transform::from_rotation(rotation),
                Visibility::Hidden,
                Pickable::IGNORE,
            ));
        }
    }
}

/// Sizes each body and keeps its floor parts under it; parts of removed bodies go with them.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn follow_bodies(
    mut commands: Commands,
    mut bodies: Query<(&mut Transform, &BodySize, Has<Selected>, &Spoil), (With<StemBody>, Without<BodyPart>)>,
    mut parts: Query<(Entity, &BodyPart, &mut Transform, &mut Visibility, &mut Mesh3d), Without<StemBody>>,
    mixes: Res<LiveMixes>,
    stems: Query<&StemBody>,
    meshes: Res<StageMeshes>,
    time: Res<Time>,
    presentation: Res<Presentation>,
    tags: Option<Res<RoomTags>>,
) {
    let hidden = tags.and_then(|t| t.hidden);
    for (mut t, size, _, _) in &mut bodies {
        let r = body_radius(size.0);
        if t.scale.x != r {
            t.scale = Vec3::splat(r);
        }
    }
    for (part_entity, part, mut t, mut visibility, mut mesh) in &mut parts {
        let Ok((body, size, selected, spoil)) = bodies.get(part.body) else {
            commands.entity(part_entity).despawn();
            continue;
        };
        let p = body.translation;
        let r = body_radius(size.0);
        let (position, scale, visible) = match part.kind {
            PartKind::Halo => {
                let wet = stems
                    .get(part.body)
                    .ok()
                    .and_then(|s| mixes.0.get(s.index).copied().flatten())
                    .map_or(0.0, |m| reverb_share(m.drr_db));
                (Vec3::new(p.x, 0.006, p.z), Vec3::splat(r * (1.0 + 3.0 * wet)), true)
            }
            PartKind::Stalk => (Vec3::new(p.x, p.y / 2.0, p.z), Vec3::new(1.0, p.y.max(0.001), 1.0), p.y > 0.01),
            PartKind::SelectionRing => (Vec3::new(p.x, 0.008, p.z), Vec3::splat(r * 1.35 + 0.05), selected),
            PartKind::Rough => {
                let level = rough_level(spoil.0);
                if level > 0 && mesh.0 != meshes.rough[level - 1] {
                    mesh.0 = meshes.rough[level - 1].clone();
                }
                // The shell turns, faster the more spoiled: restless rather than still.
                t.rotate_y((0.15 + 0.6 * spoil.0) * time.delta_secs());
                (p, Vec3::splat(r), level > 0)
            }
        };
        t.translation = position;
        t.scale = scale;
        // Listen mode hides everything a body has, so people listen instead of look.
        // So does the room's listening round, for the body it asks about.
        let asked_about = hidden.is_some() && stems.get(part.body).is_ok_and(|s| Some(s.index) == hidden);
        let visible = visible && !presentation.listen && !asked_about;
        visibility.set_if_neq(if visible { Visibility::Inherited } else { Visibility::Hidden });
    }
}

/// Listen mode: the bodies themselves disappear too (their parts follow in `follow_bodies`).
/// And the body the room is asked to place by ear ("where do you hear it?") hides until it is revealed.
fn hide_bodies_to_listen(
    presentation: Res<Presentation>,
    tags: Option<Res<RoomTags>>,
    mut bodies: Query<(&StemBody, &mut Visibility)>,
) {
    let hidden = tags.and_then(|t| t.hidden);
    for (body, mut visibility) in &mut bodies {
        let hide = presentation.listen || hidden == Some(body.index);
        visibility.set_if_neq(if hide { Visibility::Hidden } else { Visibility::Inherited });
    }
}

/// After the quiz is revealed: a line from each guess to where the body really is, and a wire sphere there.
fn show_quiz_truth(
    quiz: Res<QuizState>,
    live: Res<LiveTimeline>,
    bodies: Query<(&StemBody, &Transform)>,
    mut gizmos: Gizmos,
) {
    let Some(quiz) = quiz.0.as_ref().filter(|q| q.answers.is_some()) else { return };
    let truth = quiz.truth_at(live.t);
    for (body, transform) in &bodies {
        let Some(stem) = truth.stems.get(body.index) else { continue };
        let at = Vec3::from(stem.position_array());
        let colour = stem_colour(body.index);
        gizmos.line(transform.translation, at, colour);
        gizmos.sphere(Isometry3d::from_translation(at), body_radius(stem.size), colour);
        gizmos.line(at, Vec3::new(at.x, 0.0, at.z), colour.with_alpha(0.5));
    }
}

/// The paths of the bodies the timeline moves, on the floor, for the section playing (the whole song when it
/// has no sections): a line in the body's colour with a dot at each corner, so a recorded take can be seen.
fn draw_paths(
    doc: Res<StageScene>,
    live: Res<LiveTimeline>,
    transport: Res<TransportState>,
    presentation: Res<Presentation>,
    mut cache: Local<Option<DrawnPaths>>,
    mut gizmos: Gizmos,
) {
    if presentation.listen || !live.resolved.has_keys() {
        return;
    }
    let fresh = cache.as_ref().is_none_or(|(r, section, _)| {
        !std::sync::Arc::ptr_eq(r, &live.resolved) || *section != live.section || doc.is_changed()
    });
    if fresh {
        let (from, to) = match live.resolved.section_at(live.t) {
            Some(s) => (s.start_s, s.end_s),
            None => (0.0, transport.song_s.max(live.t)),
        };
        let lines = doc
            .scene
            .stems
            .iter()
            .enumerate()
            .filter_map(|(i, stem)| {
                let base = crate::scene::timeline::StemValues::of(stem);
                let path = live.resolved.position_path(i, base, from, to);
                (path.len() >= 2).then(|| PathLine { index: i, corners: path.iter().map(|p| p.1).collect() })
            })
            .collect();
        *cache = Some((live.resolved.clone(), live.section.clone(), lines));
    }
    let Some((_, _, lines)) = cache.as_ref() else { return };
    for line in lines {
        let colour = stem_colour(line.index).with_alpha(0.85);
        let on_floor = |p: &[f32; 3]| Vec3::new(p[0], 0.012, p[2]);
        gizmos.linestrip(line.corners.iter().map(on_floor), colour);
        for corner in &line.corners {
            let at = Isometry3d::new(on_floor(corner), Quat::from_rotation_x(std::f32::consts::FRAC_PI_2));
            gizmos.circle(at, 0.04, colour);
        }
    }
}

/// The paths drawn, for the timeline and the section they were drawn for.
type DrawnPaths = (std::sync::Arc<crate::scene::timeline::Resolved>, Option<String>, Vec<PathLine>);

/// One body's path on the floor.
struct PathLine {
    index: usize,
    corners: Vec<[f32; 3]>,
}

#[allow(clippy::type_complexity)]
/// Glow with the meter, a grey ghost when inaudible (muted, or another stem soloed), the halo's strength.
fn body_looks(
    meters: Res<Meters>,
    mixes: Res<LiveMixes>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut bodies: Query<(Entity, &StemBody, &MeshMaterial3d<StandardMaterial>, &mut BodyLook, &Muted, &Solo)>,
    parts: Query<(&BodyPart, &MeshMaterial3d<StandardMaterial>)>,
) {
    let any_solo = bodies.iter().any(|b| b.5.0);
    for (entity, body, material, mut look, muted, solo) in &mut bodies {
        let ghost = muted.0 || (any_solo && !solo.0);
        let level = meters.stem_level.get(body.index).copied().unwrap_or(0.0);
        // Perceived brightness follows level roughly like loudness: the square root of the peak.
        let glow = if ghost { 0.0 } else { (level.sqrt() * 10.0).round() / 10.0 };
        let halo = mixes.0.get(body.index).copied().flatten().map_or(0.0, |m| reverb_share(m.drr_db));
        let halo = (halo * 20.0).round() / 20.0;
        let new_look = BodyLook { glow, ghost, halo };
        if *look == new_look {
            continue;
        }
        *look = new_look;
        let colour = stem_colour(body.index);
        if let Some(mut m) = materials.get_mut(&material.0) {
            if ghost {
                let grey = Color::srgb(0.35, 0.36, 0.4);
                m.base_color = grey.mix(&colour, 0.25).with_alpha(0.4);
                m.alpha_mode = AlphaMode::Blend;
                m.emissive = LinearRgba::BLACK;
            } else {
                m.base_color = colour;
                m.alpha_mode = AlphaMode::Opaque;
                // Alpha 0 keeps the glow out of the camera's exposure, so it adds to the lit colour as is.
                let glow_colour = LinearRgba::from(colour) * (0.02 + 1.5 * glow);
                m.emissive = glow_colour.with_alpha(0.0);
            }
        }
        for (part, part_material) in &parts {
            if part.body == entity
                && part.kind == PartKind::Halo
                && let Some(mut m) = materials.get_mut(&part_material.0)
            {
                let alpha = if ghost { 0.06 } else { 0.12 + 0.4 * halo };
                m.base_color = colour.with_alpha(alpha);
            }
        }
    }
}
