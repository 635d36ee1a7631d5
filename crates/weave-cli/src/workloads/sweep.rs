//! The sensor sweep: the original Weave benchmark, without Roblox.
//!
//! Every item is a sensor at a position derived from its id that casts a fan
//! of rays into a scene of spheres and counts how many rays hit something
//! within range (a `workspace:Raycast` stand-in). The scene is generated from
//! a seed, so every actor can build its own private copy in its worker entry
//! (as a Weave worker script would) and still agree with the serial run.

use super::kernels::splitmix64;

/// Seed of the benchmark scene.
pub const SCENE_SEED: u64 = 0x5EED_0F5C_E4E5;
/// Spheres in the benchmark scene.
pub const SCENE_SPHERES: usize = 100;
/// Rays cast by every item.
pub const RAYS_PER_ITEM: u32 = 8;
/// Half the side of the cube the scene (and the sensors) live in.
const HALF_EXTENT: f32 = 50.0;

/// Parameters of one sweep job, sent with the dispatch to every item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepParams {
    /// Rays each item casts.
    pub rays: u32,
    /// Rays longer than this miss.
    pub max_distance: f32,
}

impl Default for SweepParams {
    fn default() -> Self {
        SweepParams {
            rays: RAYS_PER_ITEM,
            max_distance: 60.0,
        }
    }
}

/// A sphere of the scene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sphere {
    /// Centre.
    pub center: [f32; 3],
    /// Radius.
    pub radius: f32,
}

/// A deterministic scene of spheres.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    spheres: Vec<Sphere>,
}

impl Scene {
    /// Generates `count` spheres from `seed`; the same seed always gives the
    /// same scene, on any thread.
    pub fn generate(seed: u64, count: usize) -> Scene {
        let mut rng = Rng(seed);
        let spheres = (0..count)
            .map(|_| Sphere {
                center: [rng.signed(), rng.signed(), rng.signed()].map(|c| c * HALF_EXTENT),
                radius: 1.0 + 5.0 * rng.unit(),
            })
            .collect();
        Scene { spheres }
    }

    /// The benchmark scene: [`SCENE_SPHERES`] spheres from [`SCENE_SEED`].
    pub fn benchmark() -> Scene {
        Scene::generate(SCENE_SEED, SCENE_SPHERES)
    }

    /// The spheres.
    pub fn spheres(&self) -> &[Sphere] {
        &self.spheres
    }

    /// Item `id` of a sweep: casts `params.rays` rays from the sensor `id`
    /// and returns how many hit a sphere within `params.max_distance`.
    pub fn hits(&self, id: usize, params: &SweepParams) -> u32 {
        let origin = sensor_origin(id);
        let phase = unit_float(splitmix64(!(id as u64)));
        (0..params.rays)
            .filter(|&ray| {
                let direction = fan_direction(ray, params.rays, phase);
                self.nearest_hit(origin, direction, params.max_distance)
                    .is_some()
            })
            .count() as u32
    }

    /// Distance to the nearest sphere along a ray (`direction` normalised),
    /// if one is hit within `max_distance`.
    pub fn nearest_hit(
        &self,
        origin: [f32; 3],
        direction: [f32; 3],
        max_distance: f32,
    ) -> Option<f32> {
        self.spheres
            .iter()
            .filter_map(|sphere| ray_sphere(origin, direction, sphere))
            .filter(|&t| t <= max_distance)
            .min_by(f32::total_cmp)
    }
}

/// Where sensor `id` stands: a hashed point inside the scene's cube.
fn sensor_origin(id: usize) -> [f32; 3] {
    let mut rng = Rng(id as u64);
    [rng.signed(), rng.signed(), rng.signed()].map(|c| c * HALF_EXTENT)
}

/// Direction of ray `ray` of `rays`: a horizontal fan turned by `phase`
/// (a fraction of a full turn), tilted up and down alternately.
fn fan_direction(ray: u32, rays: u32, phase: f32) -> [f32; 3] {
    let turn = (ray as f32 / rays.max(1) as f32 + phase) * std::f32::consts::TAU;
    let tilt: f32 = if ray % 2 == 0 { 0.2 } else { -0.2 };
    normalise([turn.cos(), tilt, turn.sin()])
}

/// Distance along a ray to where it enters `sphere` (or leaves it, when the
/// origin is inside), if it meets it in front of the origin.
fn ray_sphere(origin: [f32; 3], direction: [f32; 3], sphere: &Sphere) -> Option<f32> {
    let oc = sub(origin, sphere.center);
    let b = dot(oc, direction);
    let c = dot(oc, oc) - sphere.radius * sphere.radius;
    let discriminant = b * b - c;
    if discriminant < 0.0 {
        return None;
    }
    let root = discriminant.sqrt();
    [-b - root, -b + root].into_iter().find(|&t| t >= 0.0)
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn normalise(v: [f32; 3]) -> [f32; 3] {
    let length = dot(v, v).sqrt();
    v.map(|c| c / length)
}

/// A float in `[0, 1)` from the top 24 bits of a hash.
fn unit_float(bits: u64) -> f32 {
    (bits >> 40) as f32 / (1u64 << 24) as f32
}

/// A tiny deterministic generator (SplitMix64 stream).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.0)
    }

    /// A float in `[0, 1)`.
    fn unit(&mut self) -> f32 {
        unit_float(self.next())
    }

    /// A float in `[-1, 1)`.
    fn signed(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_is_deterministic() {
        assert_eq!(Scene::benchmark(), Scene::benchmark());
        assert_eq!(Scene::benchmark().spheres().len(), SCENE_SPHERES);
        assert_ne!(Scene::generate(1, 10), Scene::generate(2, 10));
    }

    #[test]
    fn ray_hits_a_sphere_in_front_and_misses_behind() {
        let scene = Scene {
            spheres: vec![Sphere {
                center: [10.0, 0.0, 0.0],
                radius: 2.0,
            }],
        };
        let hit = scene.nearest_hit([0.0; 3], [1.0, 0.0, 0.0], 100.0);
        assert_eq!(hit, Some(8.0));
        assert_eq!(scene.nearest_hit([0.0; 3], [-1.0, 0.0, 0.0], 100.0), None);
        assert_eq!(scene.nearest_hit([0.0; 3], [1.0, 0.0, 0.0], 5.0), None);
    }

    #[test]
    fn sweep_hits_are_neither_all_nor_none() {
        let scene = Scene::benchmark();
        let params = SweepParams::default();
        let total: u32 = (0..1000).map(|id| scene.hits(id, &params)).sum();
        assert!(total > 500 && total < 7500, "hits: {total}");
    }
}
