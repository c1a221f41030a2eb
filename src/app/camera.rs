//! The orbit camera and the geometry of pointing: which floor point or upright point lies under the cursor.

use bevy::prelude::*;

/// The camera orbits a point on the stage: yaw around the vertical, pitch above the floor, distance.
#[derive(Component, Debug, Clone, Copy)]
pub struct OrbitCamera {
    /// The point it looks at.
    pub target: Vec3,
    /// Around the vertical, radians (0 = from behind the listener).
    pub yaw: f32,
    /// Above the floor, radians.
    pub pitch: f32,
    /// From the target, metres.
    pub distance: f32,
}

/// Pitch stays between just above the floor and nearly overhead.
pub const PITCH_RANGE: (f32, f32) = (0.08, 1.5);
/// Zoom stays between these distances (metres).
pub const DISTANCE_RANGE: (f32, f32) = (2.0, 60.0);

impl Default for OrbitCamera {
    fn default() -> Self {
        // Behind and above the listener, looking over their shoulder at the stage in front (-Z).
        OrbitCamera { target: Vec3::new(0.0, 0.4, -2.2), yaw: 0.0, pitch: 0.85, distance: 8.5 }
    }
}

impl OrbitCamera {
    /// Where the camera stands and how it looks.
    pub fn transform(&self) -> Transform {
        let rotation = Quat::from_euler(EulerRot::YXZ, self.yaw, -self.pitch, 0.0);
        Transform::from_translation(self.target + rotation * Vec3::Z * self.distance).looking_at(self.target, Vec3::Y)
    }

    /// Turned by `yaw` and tilted by `pitch` radians, the pitch kept in [`PITCH_RANGE`].
    pub fn orbited(self, yaw: f32, pitch: f32) -> OrbitCamera {
        OrbitCamera { yaw: self.yaw + yaw, pitch: (self.pitch + pitch).clamp(PITCH_RANGE.0, PITCH_RANGE.1), ..self }
    }

    /// Closer by `factor` (> 1 zooms in), kept in [`DISTANCE_RANGE`].
    pub fn zoomed(self, factor: f32) -> OrbitCamera {
        OrbitCamera { distance: (self.distance / factor).clamp(DISTANCE_RANGE.0, DISTANCE_RANGE.1), ..self }
    }
}

/// Moves the camera's transform to where its orbit says.
pub fn place_camera(mut cameras: Query<(&OrbitCamera, &mut Transform), Changed<OrbitCamera>>) {
    for (orbit, mut transform) in &mut cameras {
        *transform = orbit.transform();
    }
}

/// The floor point under a screen position, on the horizontal plane at `height`.
pub fn floor_point(camera: &Camera, camera_transform: &GlobalTransform, screen: Vec2, height: f32) -> Option<Vec3> {
    let ray = camera.viewport_to_world(camera_transform, screen).ok()?;
    ray.plane_intersection_point(Vec3::new(0.0, height, 0.0), InfinitePlane3d::new(Vec3::Y))
}

/// The point under a screen position on the vertical plane through `through` that faces the camera.
pub fn upright_point(camera: &Camera, camera_transform: &GlobalTransform, screen: Vec2, through: Vec3) -> Option<Vec3> {
    let ray = camera.viewport_to_world(camera_transform, screen).ok()?;
    let mut normal = camera_transform.forward().as_vec3();
    normal.y = 0.0;
    let normal = Dir3::new(normal).unwrap_or(Dir3::Z);
    ray.plane_intersection_point(through, InfinitePlane3d::new(normal))
}

/// Forward and right on the floor as the camera sees them; without a camera, forward is the listener's (-Z).
pub fn floor_axes(camera: Option<&GlobalTransform>) -> (Vec3, Vec3) {
    let forward = camera
        .map(|c| {
            let f = c.forward().as_vec3();
            Vec3::new(f.x, 0.0, f.z)
        })
        .and_then(|f| f.try_normalize())
        .unwrap_or(Vec3::NEG_Z);
    (forward, Vec3::new(-forward.z, 0.0, forward.x))
}
