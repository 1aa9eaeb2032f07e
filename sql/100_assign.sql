-- In-database case assignment (issue 5): the same answer as gridlib.index.GridIndex.
-- A case goes to the grid whose polygon covers it (ST_Covers: interior or boundary);
-- on a shared edge or vertex the smallest grid code wins, compared byte-wise
-- (COLLATE "C" = Python's code-point order). Cases outside every grid get NULL.
-- The GiST index on the grids' geom column (created by the store) drives the search;
-- the case geometry is transformed to the grids' SRID when they differ.

CREATE OR REPLACE FUNCTION gridlib_meta.assign_grid(
    cases regclass,
    grids regclass,
    case_id_column text DEFAULT 'case_id',
    grid_code_column text DEFAULT 'grid_code',
    edition text DEFAULT NULL        -- only grids with this edition_id (NULL: all rows)
) RETURNS TABLE (case_id text, grid_code text, distance_to_boundary_m double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
BEGIN
    RETURN QUERY EXECUTE format(
        $q$
        SELECT c.%1$I::text, hit.code, ST_Distance(ST_Boundary(hit.geom), hit.pt)
        FROM %3$s AS c
        LEFT JOIN LATERAL (
            SELECT g.%2$I::text AS code, g.geom, p.pt
            FROM (SELECT CASE WHEN ST_SRID(c.geom) = (SELECT Find_SRID(%5$L, %6$L, 'geom'))
                              THEN c.geom
                              ELSE ST_Transform(c.geom, (SELECT Find_SRID(%5$L, %6$L, 'geom'))) END AS pt) AS p,
                 %4$s AS g
            WHERE ST_Covers(g.geom, p.pt) AND (%7$s)
            ORDER BY g.%2$I::text COLLATE "C"
            LIMIT 1
        ) AS hit ON true
        $q$,
        case_id_column, grid_code_column, cases, grids,
        (SELECT n.nspname FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace WHERE k.oid = grids),
        (SELECT k.relname FROM pg_class k WHERE k.oid = grids),
        CASE WHEN edition IS NULL THEN 'true' ELSE format('g.edition_id = %L', edition) END);
END
$fn$;

COMMENT ON FUNCTION gridlib_meta.assign_grid(regclass, regclass, text, text, text) IS
    'Cases -> covering grid (ST_Covers); ties on shared edges/vertices: smallest grid code (COLLATE "C"); NULL outside.';
