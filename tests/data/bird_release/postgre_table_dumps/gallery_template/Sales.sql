--
-- PostgreSQL database dump
--

-- Dumped from database version 14.12 (Debian 14.12-1.pgdg120+1)
-- Dumped by pg_dump version 14.12 (Debian 14.12-1.pgdg120+1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Sales; Type: TABLE; Schema: public; Owner: root
--

CREATE TABLE public."Sales" (
    sale_id integer NOT NULL,
    "ArtworkRef" integer,
    "SalePrice" numeric(12,2) NOT NULL,
    "SaleDate" date,
    buyer_type text,
    commission_rate numeric(4,3),
    verified boolean DEFAULT false
);


ALTER TABLE public."Sales" OWNER TO root;

--
-- Name: Sales_sale_id_seq; Type: SEQUENCE; Schema: public; Owner: root
--

CREATE SEQUENCE public."Sales_sale_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public."Sales_sale_id_seq" OWNER TO root;

--
-- Name: Sales_sale_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: root
--

ALTER SEQUENCE public."Sales_sale_id_seq" OWNED BY public."Sales".sale_id;


--
-- Name: Sales sale_id; Type: DEFAULT; Schema: public; Owner: root
--

ALTER TABLE ONLY public."Sales" ALTER COLUMN sale_id SET DEFAULT nextval('public."Sales_sale_id_seq"'::regclass);


--
-- Data for Name: Sales; Type: TABLE DATA; Schema: public; Owner: root
--

COPY public."Sales" (sale_id, "ArtworkRef", "SalePrice", "SaleDate", buyer_type, commission_rate, verified) FROM stdin;
1	101	5400.00	2020-02-11	collector	0.150	t
2	102	1750.00	2020-06-30	dealer	0.100	t
3	103	1500.00	2021-01-05	collector	0.125	f
4	104	6500.00	2021-03-17	museum	0.050	t
5	104	7800.00	2022-08-08	collector	0.150	t
6	105	2900.00	2022-10-10	dealer	\N	f
7	106	4100.00	2023-01-21	museum	0.080	t
8	107	1150.00	2023-02-02	collector	0.200	t
9	108	5200.00	2023-05-05	dealer	0.100	f
10	101	4600.00	2023-07-07	dealer	0.120	t
11	103	1100.00	2023-09-09	museum	0.050	t
12	106	3950.00	2024-01-15	collector	0.100	t
\.


--
-- Name: Sales_sale_id_seq; Type: SEQUENCE SET; Schema: public; Owner: root
--

SELECT pg_catalog.setval('public."Sales_sale_id_seq"', 12, true);


--
-- Name: Sales Sales_pkey; Type: CONSTRAINT; Schema: public; Owner: root
--

ALTER TABLE ONLY public."Sales"
    ADD CONSTRAINT "Sales_pkey" PRIMARY KEY (sale_id);


--
-- Name: Sales Sales_ArtworkRef_fkey; Type: FK CONSTRAINT; Schema: public; Owner: root
--

ALTER TABLE ONLY public."Sales"
    ADD CONSTRAINT "Sales_ArtworkRef_fkey" FOREIGN KEY ("ArtworkRef") REFERENCES public."Artworks"("ArtworkID");


--
-- PostgreSQL database dump complete
--

